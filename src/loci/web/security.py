"""The guard in front of every request: token, Host, Origin, and security headers.

A local server that runs code is a target, so (pure ASGI middleware, before any route):

- every path except the static UI shell (``/`` and ``/static/...``, which hold no data) needs
  the token, as ``Authorization: Bearer T`` or ``?token=T``: the server's one token (compared
  in constant time) or, in multi-user mode, any user's (looked up by its SHA-256); the user
  is put in the ASGI scope as ``scope["loci.user"]`` for the endpoints;
- the Host header must name this server when it listens on loopback (defeats DNS rebinding);
- a request that changes state (any method but GET/HEAD/OPTIONS), the event stream and any
  WebSocket must come from this server's own origin: a foreign ``Origin`` (or ``null``, or
  ``Sec-Fetch-Site: cross-site``) is refused; no Origin at all is allowed (programs), since
  the token was already checked; with ``strict_origin`` (an MCP endpoint, whose every request
  is a call or its stream) every request is checked so;
- every response gets ``nosniff``, ``no-referrer``, ``frame-ancestors 'none'`` and a strict CSP
  (no inline scripts); JSON endpoints refuse non-JSON bodies themselves (``api.read_json``).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable
from urllib.parse import parse_qs, urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..store.users import User, Users

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; frame-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
LOCAL = User(0, "local")  # the one user of a single-token server
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def is_loopback(host: str) -> bool:
    return host.strip("[]") in LOOPBACK_HOSTS or host.startswith("127.")


def new_token() -> str:
    return secrets.token_urlsafe(32)


def _hostname(host_header: str) -> str:
    try:
        return (urlsplit(f"//{host_header}").hostname or "").lower()
    except ValueError:
        return ""


def _is_public(path: str) -> bool:
    return path in ("/", "/favicon.ico") or path.startswith("/static/")


class Guard:
    """ASGI middleware enforcing the rules in the module docstring."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        token: str,
        allowed_hosts: Iterable[str] | None = None,
        users: Users | None = None,
        strict_origin: bool = False,
    ) -> None:
        self.app = app
        self.token = token
        self.users = users
        self.strict_origin = strict_origin  # every request checked, GETs too (``loci mcp``)
        self.allowed_hosts = (
            frozenset(h.strip("[]").lower() for h in allowed_hosts) if allowed_hosts else None
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        problem = self._problem(scope)
        if problem is not None:
            status, message = problem
            await _refuse(scope, receive, send, status, message)
            return
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "no-referrer")
                headers.setdefault("X-Frame-Options", "DENY")
                headers.setdefault("Content-Security-Policy", CSP)
                headers.setdefault("Cache-Control", "no-store")
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _problem(self, scope: Scope) -> tuple[int, str] | None:
        headers = Headers(scope=scope)
        host = headers.get("host", "")
        if self.allowed_hosts is not None and _hostname(host) not in self.allowed_hosts:
            return 403, "unknown Host header (this server answers only to its own address)"
        path: str = scope["path"]
        if _is_public(path) and scope["type"] == "http":
            return None
        user = self._user(scope, headers)
        if user is None:
            return 401, "missing or wrong token (Authorization: Bearer TOKEN or ?token=TOKEN)"
        scope["loci.user"] = user
        method = scope.get("method", "GET")
        streaming = scope["type"] == "websocket" or path.endswith("/events")
        checked = self.strict_origin or method not in SAFE_METHODS or streaming
        if checked and not _same_origin(scope, headers):
            return 403, "cross-origin request refused"
        return None

    def _user(self, scope: Scope, headers: Headers) -> User | None:
        """Who the request's token belongs to (LOCAL for the single token), or None."""
        given = ""
        auth = headers.get("authorization", "")
        if auth[:7].lower() == "bearer ":
            given = auth[7:].strip()
        else:
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            given = (query.get("token") or [""])[0]
        if not given:
            return None
        if self.users is not None:
            return self.users.by_token(given)
        return LOCAL if secrets.compare_digest(given.encode(), self.token.encode()) else None


def _same_origin(scope: Scope, headers: Headers) -> bool:
    if headers.get("sec-fetch-site", "") == "cross-site":
        return False
    origin = headers.get("origin")
    if origin is None:
        return True  # not a browser page (curl, a script): the token was checked already
    scheme = {"ws": "http", "wss": "https"}.get(scope.get("scheme", "http"), scope["scheme"])
    return bool(origin.lower() == f"{scheme}://{headers.get('host', '')}".lower())


async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, message: str) -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008, "reason": message[:120]})
        return
    body = json.dumps({"error": message}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"x-content-type-options", b"nosniff"),
    ]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
