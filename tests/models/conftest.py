"""Fixtures for the model tests: real local servers speaking the OpenAI and Anthropic
streaming protocols (see fake_openai_server.py and fake_anthropic_server.py)."""

from __future__ import annotations

from fake_anthropic_server import anthropic_server
from fake_openai_server import openai_server

__all__ = ["anthropic_server", "openai_server"]
