"""The browser version of loci: ``create_app(settings, token=...)`` → an ASGI app.

JSON + Server-Sent Events over the same events ``loci --json`` prints, and a static UI.
Needs the ``web`` extra (starlette, uvicorn, python-multipart).
"""

from __future__ import annotations

from ..errors import MissingExtraError

try:
    import starlette  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised by a subprocess test
    raise MissingExtraError("loci serve", "web", "starlette") from exc

from .app import create_app as create_app

__all__ = ["create_app"]
