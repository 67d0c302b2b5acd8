"""MCP servers' tools in a session: ``McpTools``, the one object ``Session`` asks about them.

    tools = McpTools.from_settings(settings, kernels)   # nothing starts when none is set
    tools.news()                # Notices; on the first turn, once the servers have started
    tools.prompt(tool_calls)    # the system prompt's section: each tool's call and purpose
    tools.specs()               # offered to a tool-call model beside execute
    tools.runs(language)        # True for "mcp": a model's call to a tool, as a block
    yield from tools.execute(request, store)            # run such a block
    yield from tools.run_block(kernel, store, request)  # run a code block, the bridge open
    tools.close()

Two ways in, one record. A tool-call model's call (``server__tool``) is a block of language
``mcp``: shown, approved by the session's ``ApprovalPolicy``, run by ``run_block`` with a
``ToolKernel``, stored as an execution and answered as a tool message, like code. Code in the
Python kernel calls ``server.tool(...)`` through the ``Bridge``: the block that holds the call
was shown and approved, and that approval covers the calls its code makes, as it covers the
files the code writes; they are answered only while that block runs (``run_block`` opens the
bridge to it), each is stored as an execution of its own (block id ``BLOCK.mcpN``, approved
by whoever approved the block, message "called by the code of block BLOCK") and the session
yields a Notice for each once the block ends. The audit's sandbox column says
``mcp:SERVER``: an MCP server runs outside loci's sandbox, with the rights it was started with.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from .. import prompts
from ..config import Settings
from ..events import Event, ExecutionDone, Notice, Output
from ..execution import ExecutionRequest, ExecutionResult
from ..execution import run_block as run_execution
from ..kernels.base import Kernel
from ..kernels.pool import KernelPool
from ..mcp_servers import MCP_TIMEOUT
from ..messages import MCP_LANGUAGE, ToolSpec
from ..pycall import format_call, function_name, parse_call
from ..store import Store
from .bridge import Bridge
from .catalog import Catalog, Entry, server_names
from .client import McpClient
from .runner import ERROR_NAME, ToolKernel

SHOWN_CALLS = 5  # notices of calls from one block; past that, one that counts the rest


@dataclass
class _Open:
    """The block the bridge answers for, while it runs."""

    store: Store
    request: ExecutionRequest
    count: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    made: list[str] = field(default_factory=list)  # "call: status", for the notices


class McpTools:
    """The configured MCP servers of one session; see the module docstring."""

    def __init__(self, settings: Settings, kernels: KernelPool | None = None) -> None:
        self._servers = {s.name: s for s in settings.mcp_servers if s.enabled}
        self.names = server_names(self._servers)  # name in config.toml -> Python name
        self.client = McpClient(
            list(self._servers.values()), log_dir=settings.home / "logs", cwd=settings.workdir
        )
        timeouts = {name: s.timeout for name, s in self._servers.items()}
        self.kernel = ToolKernel(self.client, self.catalog, timeouts, settings.workdir)
        self._catalog: Catalog | None = None
        self._open: _Open | None = None
        self._lock = threading.Lock()
        self._notes: list[Notice] = []  # loci's own, for the next ``news``
        self.bridge: Bridge | None = None
        if self._servers:
            self.client.start()
            if kernels is not None and kernels.gateway is None:
                self._offer(kernels)
            elif kernels is not None:  # a gateway's kernels are on other machines
                why = "code on a Kernel Gateway cannot call MCP tools; models with tool calls can"
                self._notes.append(Notice("info", why))

    @classmethod
    def from_settings(cls, settings: Settings, kernels: KernelPool | None = None) -> McpTools:
        """The servers ``settings`` name (those enabled); ``kernels``: the pool whose local
        kernels get the servers' objects (a gateway's kernels cannot reach the bridge)."""
        return cls(settings, kernels)

    def _offer(self, kernels: KernelPool) -> None:
        """Make the pool's kernels define the servers' objects and reach the bridge."""
        try:
            self.bridge = Bridge(self._answer)
        except OSError as exc:  # no temp folder, or a socket path too long for the OS
            why = f"code cannot call MCP tools (loci cannot open its socket: {exc})"
            self._notes.append(Notice("warning", why))
            return
        kernels.env = {**(kernels.env or {}), **self.bridge.env(self.names.values())}
        if kernels.sandbox is not None:
            shown = (*kernels.sandbox.shown, self.bridge.folder)
            kernels.sandbox = replace(kernels.sandbox, shown=shown)

    @property
    def active(self) -> bool:
        return bool(self._servers)

    def close(self) -> None:
        with contextlib.ExitStack() as later:
            later.callback(self.client.close)
            if self.bridge is not None:
                self.bridge.close()

    # -- what the model is told ----------------------------------------------------------

    def catalog(self) -> Catalog:
        """The tools of the servers that started (waiting, the first time, for them)."""
        if self._catalog is None:
            tools = self.client.tools()
            with self._lock:
                if self._catalog is None:
                    self._catalog = Catalog(tools, self.names)
        return self._catalog

    def news(self) -> Iterator[Notice]:
        """What the servers did since last asked (started, failed, stopped); the first time,
        after saying which are still starting and waiting for them."""
        if not self.active:
            return
        starting = self.client.starting() if self._catalog is None else []
        if starting:
            yield Notice("info", f"waiting for MCP servers to start: {', '.join(starting)}")
        self.catalog()
        notes, self._notes = self._notes, []
        yield from [*notes, *self.client.news()]

    def _usable(self) -> list[Entry]:
        """The tools of the servers still running (one that stopped is not offered again)."""
        if not self.active:
            return []
        running = self.client.running()
        return [e for e in self.catalog().entries if e.tool.server in running]

    def prompt(self, tool_calls: bool) -> str:
        """The system prompt's section on the tools ("" when there are none)."""
        entries = self._usable()
        in_code = self.bridge is not None
        if not entries or not (tool_calls or in_code):
            return ""
        listing = "\n".join(e.line() for e in entries)
        if not tool_calls:
            return prompts.load("mcp", tools=listing)
        example = function_name(entries[0].server, entries[0].name) or entries[0].qualname
        also = prompts.MCP_IN_CODE if in_code else ""
        return prompts.load("mcp_tools", tools=listing, example=example, in_code=also)

    def specs(self) -> tuple[ToolSpec, ...]:
        return tuple(s for e in self._usable() if (s := e.spec()) is not None)

    def runs(self, language: str) -> bool:
        return self.active and language == MCP_LANGUAGE

    # -- running -------------------------------------------------------------------------

    def execute(
        self, request: ExecutionRequest, store: Store
    ) -> Generator[Event, None, ExecutionResult]:
        """A block of language ``mcp`` (one call), run and stored as code is."""
        where = self._where(request.code)
        return (yield from run_execution(self.kernel, store, replace(request, location=where)))

    def _where(self, code: str) -> str:
        with contextlib.suppress(ValueError):
            call = parse_call(code)
            entry = self.catalog().find(call.server, call.tool)
            if entry is not None:
                return f"mcp:{entry.tool.server}"
        return "mcp"

    def run_block(
        self, kernel: Kernel, store: Store, request: ExecutionRequest
    ) -> Generator[Event, None, ExecutionResult]:
        """Run a code block with the bridge answering for it; then a Notice for each call
        its code made."""
        if self.bridge is None:
            return (yield from run_execution(kernel, store, request))
        opened = _Open(store, request)
        with self._lock:
            self._open = opened
        try:
            result = yield from run_execution(kernel, store, request)
        finally:
            with self._lock:
                self._open = None
        for line in opened.made[:SHOWN_CALLS]:
            yield Notice("info", f"the code called the MCP tool {line}")
        if len(opened.made) > SHOWN_CALLS:
            yield Notice("info", f"… and {len(opened.made) - SHOWN_CALLS} more MCP calls")
        return result

    # -- the bridge's side ---------------------------------------------------------------

    def _answer(self, request: dict[str, Any]) -> dict[str, Any]:
        """One request from the kernel (its token already checked)."""
        server, tool = request.get("server"), request.get("tool")
        args, kwargs = request.get("args") or [], request.get("kwargs") or {}
        if not isinstance(server, str):
            return _refused("the request names no server")
        catalog = self.catalog()
        if request.get("list"):
            value = {e.name: f"{e.signature()}: {e.summary()}" for e in catalog.of(server)}
            return {"ok": True, "value": value}
        opened = self._open
        if opened is None:
            return _refused("MCP tools answer only while loci runs a block of this conversation")
        if not isinstance(tool, str) or not isinstance(args, list) or not isinstance(kwargs, dict):
            return _refused("the request is not a call (server, tool, args, kwargs)")
        entry = catalog.find(server, tool)
        if entry is None:
            return _refused(catalog.unknown(server, tool))
        try:
            arguments = entry.arguments(args, kwargs)
        except ValueError as exc:
            return _refused(str(exc))
        return self._call(opened, entry, arguments)

    def _call(self, opened: _Open, entry: Entry, arguments: dict[str, Any]) -> dict[str, Any]:
        """Make one call from the running block, and keep it in the audit log."""
        request, store = opened.request, opened.store
        code = format_call(entry.server, entry.name, arguments)
        server = entry.tool.server
        exec_id = store.start_execution(
            request.conversation_id,
            block_id=f"{request.block_id}.mcp{next(opened.count)}",
            language=MCP_LANGUAGE,
            code=code,
            approved_by=request.approved_by,
            sandbox=f"mcp:{server}",
        )
        timeout = self._servers[server].timeout if server in self._servers else MCP_TIMEOUT
        result = self.client.call(
            server, entry.tool.name, arguments, timeout=timeout, cancel=request.cancel
        )
        ok = result.status == "ok"
        shown = request.redact(result.text if ok else result.message)
        if shown:
            out = Output("stdout" if ok else "stderr", shown, execution_id=exec_id)
            store.add_output(exec_id, out)
        done = ExecutionDone(
            exec_id,
            result.status,
            round(result.duration, 3),
            error_name=ERROR_NAME if result.status == "error" else "",
            error_value=shown if result.status == "error" else "",
            message=_called_by(request.block_id, result.message),
        )
        store.finish_execution(exec_id, done, output_bytes=len(shown))
        opened.made.append(f"{code}: {result.status}" + (f" ({result.message})" if not ok else ""))
        return result.to_json()


def _refused(why: str) -> dict[str, Any]:
    return {"ok": False, "error": why}


def _called_by(block_id: str, message: str) -> str:
    return f"called by the code of block {block_id}" + (f"; {message}" if message else "")
