"""The bridge: Python code in the kernel calls MCP tools through loci.

The kernel is another process, perhaps confined by bubblewrap with the network cut
(``loci.sandbox``), so it reaches loci over a Unix domain socket: a file in a private folder
(mode 0700, under the temp folder) that the sandbox shows to the code read-only at the same
path (``Sandbox.shown``; connecting needs no write access, and a socket file works across the
network namespace). The folder also holds ``kernel_side.py``, which the kernel runs at start
through ``PYTHONSTARTUP`` (``env``) to define one object per server.

Each connection carries one JSON line, ``{"token", "server", "tool", "args", "kwargs"}`` (or
``"list": true`` for a server's tools), and gets one JSON line back from ``handle``. The
token is random per session and reaches only that session's kernels (in their environment);
a request without it is refused before ``handle`` sees it.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import os
import secrets
import shutil
import socketserver
import tempfile
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

__all__ = ["MAX_REQUEST", "Bridge", "Handler"]

Handler = Callable[[dict[str, Any]], dict[str, Any]]
MAX_REQUEST = 16 * 1024 * 1024  # bytes of one request line
KERNEL_SIDE = Path(__file__).with_name("kernel_side.py")


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    bridge: Bridge


class _Connection(socketserver.StreamRequestHandler):
    server: _Server

    def handle(self) -> None:
        line = self.rfile.readline(MAX_REQUEST)
        answer = self.server.bridge.answer(line)
        with contextlib.suppress(OSError):  # the kernel stopped waiting (interrupted)
            self.wfile.write(json.dumps(answer, default=str).encode("utf-8") + b"\n")


class Bridge:
    """The socket a session's kernels call MCP tools through; a context manager."""

    def __init__(self, handle: Handler) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="loci-mcp-"))  # 0700
        self.socket = self.folder / "bridge.sock"
        self.startup = self.folder / KERNEL_SIDE.name
        self.token = secrets.token_hex(16)
        self._handle = handle
        shutil.copyfile(KERNEL_SIDE, self.startup)
        self._server = _Server(str(self.socket), _Connection)
        self._server.bridge = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="loci-mcp-bridge", daemon=True
        )
        self._thread.start()

    def env(
        self, servers: Iterable[str], environ: Mapping[str, str] = os.environ
    ) -> dict[str, str]:
        """The variables that make a kernel define ``servers`` (Python names) and reach
        this bridge; the user's own PYTHONSTARTUP, if any, still runs after."""
        env = {
            "PYTHONSTARTUP": str(self.startup),
            "LOCI_MCP_SOCKET": str(self.socket),
            "LOCI_MCP_TOKEN": self.token,
            "LOCI_MCP_SERVERS": ",".join(servers),
        }
        if environ.get("PYTHONSTARTUP"):
            env["LOCI_MCP_PYTHONSTARTUP"] = environ["PYTHONSTARTUP"]
        return env

    def answer(self, line: bytes) -> dict[str, Any]:
        """The answer to one request line (checked for the token first)."""
        try:
            request = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return {"ok": False, "error": "the request to loci was not JSON (or too long)"}
        token = request.pop("token", "") if isinstance(request, dict) else ""
        if not isinstance(token, str) or not hmac.compare_digest(token, self.token):
            return {"ok": False, "error": "refused: the request lacks this session's token"}
        try:
            return self._handle(request)
        except Exception as exc:  # a bug must not kill the bridge: the kernel gets an error
            return {"ok": False, "error": f"loci failed to handle the call: {exc!r}"}

    def close(self) -> None:
        """Stop serving and remove the folder. Idempotent."""
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> Bridge:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
