"""Fixtures for the web tests (defined in web_helpers.py)."""

from web_helpers import start_server, web_settings

__all__ = ["start_server", "web_settings"]
