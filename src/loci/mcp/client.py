"""MCP servers' sessions on one event-loop thread that loci owns, behind a synchronous API.

    client = McpClient(settings.mcp_servers, log_dir=home / "logs", cwd=workdir)
    client.start()              # the loop thread, and one connection per enabled server
    client.tools()              # [ServerTool], once each server has started or failed
    client.call("weather", "forecast", {"city": "Paris"}, timeout=60)   # -> ToolResult
    client.news()               # Notices: a server started, could not start, or stopped
    client.close()              # every connection closed, every server process ended

The ``mcp`` SDK (the extra ``loci[mcp]``) is async, and loci's core is not: the thread runs
one asyncio loop, a task per server holds its transport (``stdio_client`` for a ``command``,
``streamable_http_client`` for a ``url``) and its ``ClientSession`` open, and ``call`` sends a
coroutine there and waits for it, polling the caller's Stop. Nothing starts before
``start``; the SDK is imported on the loop thread, so loci starts as fast without MCP.

Nothing here raises at the caller: a server that cannot start, or that stops, is a Notice
(``news``) and its state; a call that fails is a ``ToolResult`` whose status and message say
why (``"crashed"`` when the server went away during the call, then ``"error"`` for every
later call). SDK and transport errors are translated in one place, ``_failure``. A server's
stderr goes to ``LOCI_HOME/logs/mcp-NAME.log``, whose last lines a failure quotes.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import importlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Coroutine, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, TextIO, TypeVar

from ..errors import MissingExtraError
from ..events import Notice
from ..mcp_servers import McpServer
from ..models.base import import_extra
from .answers import ToolResult, to_result

__all__ = ["START_TIMEOUT", "McpClient", "ServerTool", "ToolResult"]

T = TypeVar("T")
START_TIMEOUT = 30.0  # seconds for a server to start and list its tools
CLOSE_TIMEOUT = 10.0  # seconds for every connection to close (the SDK kills a server in ~4)
POLL = 0.1  # seconds between looks at the caller's Stop while a call runs
GRACE = 5.0  # seconds past a call's timeout before loci stops waiting on the SDK itself
LOG_TAIL = 3  # lines of a server's stderr quoted when it fails
MAX_PAGES = 50  # of a tools/list answer
State = Literal["starting", "ready", "failed", "stopped"]


@dataclass(frozen=True)
class ServerTool:
    """One tool of one server, as its server describes it."""

    server: str  # the server's name in config.toml
    name: str  # the tool's own name
    description: str
    schema: dict[str, Any]  # JSON schema of its arguments
    output_schema: dict[str, Any] | None = None


@dataclass
class _Connection:
    server: McpServer
    log: Path
    state: State = "starting"
    why: str = ""  # why it failed or stopped
    tools: tuple[ServerTool, ...] = ()
    session: Any = None  # the SDK's ClientSession while ready
    settled: threading.Event = field(default_factory=threading.Event)

    def unavailable(self) -> str:
        name = self.server.name
        if self.state == "starting":
            return f"the MCP server {name!r} is still starting"
        if self.state == "failed":
            return f"the MCP server {name!r} could not start: {self.why}"
        return f"the MCP server {name!r} is not running: {self.why}. Restart loci to start it again"


class McpClient:
    """The configured MCP servers of one session; see the module docstring."""

    def __init__(
        self,
        servers: Sequence[McpServer],
        *,
        log_dir: Path,
        cwd: Path | None = None,
        start_timeout: float = START_TIMEOUT,
    ) -> None:
        self._conns = {
            s.name: _Connection(s, log_dir / f"mcp-{s.name}.log") for s in servers if s.enabled
        }
        self._log_dir = log_dir
        self._cwd = cwd
        self.start_timeout = start_timeout
        self._loop: asyncio.AbstractEventLoop | None = None  # made by ``start``
        self._stop = asyncio.Event()  # bound to the loop when the loop first waits on it
        self._thread: threading.Thread | None = None
        self._news: list[Notice] = []
        self._lock = threading.Lock()

    @property
    def names(self) -> list[str]:
        """The enabled servers, in config order."""
        return list(self._conns)

    # -- lifetime -------------------------------------------------------------------------

    def start(self) -> None:
        """Start the loop thread and connect to every server (in the background). Idempotent."""
        if self._thread is not None or not self._conns:
            return
        loop = self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, args=(loop,), name="loci-mcp")
        self._thread.daemon = True
        self._thread.start()

    def close(self) -> None:
        """Close every connection (ending the servers loci started) and the loop thread."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop has already ended
            loop.call_soon_threadsafe(self._stop.set)  # runs first if the loop has not begun
        thread.join(timeout=CLOSE_TIMEOUT)

    def _run(self, loop: asyncio.AbstractEventLoop) -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._main(loop))
        finally:
            for conn in self._conns.values():
                conn.settled.set()
            loop.close()

    async def _main(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            import_extra("mcp", "Calling MCP servers", "mcp", "mcp")
        except MissingExtraError as exc:
            for conn in self._conns.values():
                self._settle(conn, "failed", exc.message)
            self._say("warning", f"{exc.message}; the servers in config.toml are not started")
            return
        sdk_log = logging.getLogger("mcp")
        if not sdk_log.handlers:  # the SDK's own warnings would reach the terminal unfiltered
            sdk_log.addHandler(logging.NullHandler())
        self._log_dir.mkdir(parents=True, exist_ok=True)
        # the SDK checks a tool's structured result with jsonschema, whose import takes
        # seconds: import it while the servers start, not during the first call
        warm = loop.run_in_executor(None, importlib.import_module, "jsonschema")
        # one connection ending badly (even cancelled) must not end the others
        await asyncio.gather(warm, *map(self._keep, self._conns.values()), return_exceptions=True)

    async def _keep(self, conn: _Connection) -> None:
        """Connect, list the tools, and hold the session open until ``close``."""
        import anyio
        from mcp.client.session import ClientSession

        try:
            with conn.log.open("w", encoding="utf-8") as log:  # this run's stderr only
                async with contextlib.AsyncExitStack() as stack:
                    read, write = await stack.enter_async_context(self._transport(conn, log))
                    session = await stack.enter_async_context(ClientSession(read, write))
                    with anyio.fail_after(self.start_timeout):
                        await session.initialize()
                        tools = await _list_tools(conn.server.name, session)
                    conn.session, conn.tools = session, tools
                    self._settle(conn, "ready")
                    names = ", ".join(t.name for t in tools) or "none"
                    self._say(
                        "info", f"MCP server {conn.server.name!r} is ready; its tools: {names}"
                    )
                    await self._stop.wait()
        except Exception as exc:  # the SDK's errors, and groups of them from its task groups
            if conn.state == "starting":
                why = _failure(exc, self.start_timeout) + _tail(conn.log)
                self._settle(conn, "failed", why)
                self._say("warning", f"MCP server {conn.server.name!r} could not start: {why}")
        finally:
            conn.session = None

    def _transport(
        self, conn: _Connection, log: TextIO
    ) -> contextlib.AbstractAsyncContextManager[Any]:
        server = conn.server
        if server.command:
            from mcp.client.stdio import StdioServerParameters, stdio_client

            params = StdioServerParameters(
                command=server.command, args=list(server.args), env=dict(server.env) or None,
                cwd=self._cwd,
            )  # fmt: skip
            return stdio_client(params, errlog=log)
        return _http(server)

    def _settle(self, conn: _Connection, state: State, why: str = "") -> None:
        conn.state, conn.why = state, why
        conn.settled.set()

    def _say(self, level: Literal["info", "warning", "error"], message: str) -> None:
        with self._lock:
            self._news.append(Notice(level, message))

    # -- the synchronous API ---------------------------------------------------------------

    def wait(self, timeout: float | None = None) -> None:
        """Wait until every server has started or failed (at most ``timeout`` seconds)."""
        deadline = time.monotonic() + (self.start_timeout + GRACE if timeout is None else timeout)
        for conn in self._conns.values():
            conn.settled.wait(max(0.0, deadline - time.monotonic()))

    def running(self) -> set[str]:
        """The servers that started and have not stopped."""
        return {name for name, c in self._conns.items() if c.state == "ready"}

    def starting(self) -> list[str]:
        """The servers that have neither started nor failed yet."""
        return [name for name, c in self._conns.items() if not c.settled.is_set()]

    def tools(self) -> list[ServerTool]:
        """The tools of every server that is ready (waiting for those still starting)."""
        self.wait()
        return [t for c in self._conns.values() if c.state == "ready" for t in c.tools]

    def news(self) -> list[Notice]:
        """What happened to the servers since the last call: started, failed, stopped."""
        with self._lock:
            news, self._news = self._news, []
        return news

    def call(
        self,
        server: str,
        tool: str,
        arguments: dict[str, Any],
        *,
        timeout: float,
        cancel: threading.Event | None = None,
    ) -> ToolResult:
        """Call ``tool`` of ``server``; never raises (see ``ToolResult.status``)."""
        conn = self._conns.get(server)
        if conn is None:
            known = ", ".join(self._conns) or "none"
            return ToolResult(
                "error", message=f"no MCP server is named {server!r} (known: {known})"
            )
        conn.settled.wait(self.start_timeout + GRACE)
        if conn.state != "ready" or conn.session is None:
            return ToolResult("error", message=conn.unavailable())
        started = time.monotonic()
        result = self._wait(self._acall(conn, tool, arguments, timeout), timeout + GRACE, cancel)
        if result is None:
            if cancel is not None and cancel.is_set():
                return ToolResult("interrupted", message="stopped")
            return ToolResult("timeout", message=f"no answer within {timeout:g}s")
        return replace(result, duration=time.monotonic() - started)

    def _wait(
        self, coro: Coroutine[Any, Any, T], limit: float, cancel: threading.Event | None
    ) -> T | None:
        """Run ``coro`` on the loop; its value, or None if stopped or past ``limit``."""
        if self._loop is None:
            coro.close()
            return None
        try:
            future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        except RuntimeError:  # the loop has ended (closed)
            coro.close()
            return None
        deadline = time.monotonic() + limit
        while True:
            try:
                return future.result(timeout=POLL)
            except concurrent.futures.TimeoutError:
                if (cancel is not None and cancel.is_set()) or time.monotonic() > deadline:
                    future.cancel()
                    return None

    async def _acall(
        self, conn: _Connection, tool: str, arguments: dict[str, Any], timeout: float
    ) -> ToolResult:
        try:
            raw = await conn.session.call_tool(tool, arguments, read_timeout_seconds=timeout)
        except Exception as exc:
            return self._call_failed(conn, tool, exc, timeout)
        spec = next((t for t in conn.tools if t.name == tool), None)
        return to_result(raw, spec.output_schema if spec else None)

    def _call_failed(
        self, conn: _Connection, tool: str, exc: Exception, timeout: float
    ) -> ToolResult:
        from mcp.shared.exceptions import MCPError
        from mcp_types import CONNECTION_CLOSED, REQUEST_TIMEOUT

        name = conn.server.name
        code = exc.code if isinstance(exc, MCPError) else None
        if code == REQUEST_TIMEOUT:
            return ToolResult(
                "timeout", message=f"{name}.{tool} gave no answer within {timeout:g}s"
            )
        if code == CONNECTION_CLOSED:
            why = f"it stopped during a call to {tool}" + _tail(conn.log)
            self._settle(conn, "stopped", why)
            self._say("warning", f"MCP server {name!r} stopped: {why}; the conversation goes on")
            return ToolResult("crashed", message=f"the MCP server {name!r} stopped during the call")
        return ToolResult("error", message=f"the MCP server {name!r}: {_failure(exc, timeout)}")


@contextlib.asynccontextmanager
async def _http(server: McpServer) -> AsyncIterator[Any]:
    """A streamable HTTP transport, its HTTP client carrying the table's ``headers``."""
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client  # as the SDK's session_group

    http = create_mcp_http_client(headers=dict(server.headers) or None)
    async with http, streamable_http_client(server.url, http_client=http) as streams:
        yield streams


async def _list_tools(server: str, session: Any) -> tuple[ServerTool, ...]:
    from mcp_types import PaginatedRequestParams

    found: list[ServerTool] = []
    cursor: str | None = None
    for _ in range(MAX_PAGES):
        params = PaginatedRequestParams(cursor=cursor) if cursor else None
        page = await session.list_tools(params=params)
        found += [
            ServerTool(
                server, t.name, (t.description or "").strip(), t.input_schema, t.output_schema
            )
            for t in page.tools
        ]
        cursor = page.next_cursor
        if not cursor:
            break
    return tuple(found)


def _leaf(exc: BaseException) -> BaseException:
    """The first error inside (nested) exception groups (anyio's task groups raise them)."""
    inner = getattr(exc, "exceptions", None)
    while isinstance(inner, tuple) and inner and isinstance(inner[0], BaseException):
        exc = inner[0]
        inner = getattr(exc, "exceptions", None)
    return exc


def _failure(exc: BaseException, timeout: float) -> str:
    """What went wrong, in one line, for an error of the SDK or its transports."""
    from mcp.shared.exceptions import MCPError

    exc = _leaf(exc)
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout:g}s"
    if isinstance(exc, FileNotFoundError):
        return f"no such program: {exc.filename or exc}"
    if isinstance(exc, MCPError):
        return exc.message or f"MCP error {exc.code}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _tail(log: Path) -> str:
    """The last lines the server wrote to stderr, to add to a message ("" if none)."""
    try:
        lines = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return ""
    shown = " | ".join(line.strip() for line in lines[-LOG_TAIL:] if line.strip())
    return f" (its stderr, in {log}: {shown})" if shown else ""
