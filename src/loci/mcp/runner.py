"""Running one approved call to an MCP tool as a block: ``ToolKernel``.

A tool-call model's call to ``server__tool`` reaches the session as a block of language
``mcp`` whose code is the call's Python form. It is shown, approved and stored like any
block, by ``loci.execution.run_block``, with this object in a kernel's place: ``execute``
reads the approved code back (``loci.pycall.parse_call``: literal values only), finds the
tool, calls it with the server's own timeout, and yields what it gave as outputs (text on
stdout, images as display outputs, which the session saves like plots) and how it ended.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from ..events import KernelEvent, KernelResult, Output
from ..kernel_state import KernelState
from ..mcp_servers import MCP_TIMEOUT
from ..messages import MCP_LANGUAGE
from ..pycall import parse_call
from ..sandbox import Sandbox
from .answers import ToolResult
from .catalog import Catalog
from .client import McpClient

ERROR_NAME = "McpError"


def outputs(result: ToolResult) -> Iterator[KernelEvent]:
    """A call's result as kernel events: outputs, then one ``KernelResult``."""
    if result.text and result.status == "ok":
        yield Output("stdout", result.text.rstrip("\n") + "\n")
    for mime, data in result.images:
        yield Output("display", data, mime=mime, text=f"[{mime} from the tool]")
    if result.status == "ok":
        yield KernelResult("ok")
    elif result.status == "error":
        yield Output("error", f"{ERROR_NAME}: {result.message}\n")
        yield KernelResult("error", error_name=ERROR_NAME, error_value=result.message)
    else:
        yield KernelResult(result.status, message=result.message)


class ToolKernel:
    """Blocks of language ``mcp``: each one call to one tool (the ``Kernel`` protocol)."""

    language = MCP_LANGUAGE
    sandbox: Sandbox | None = None  # the tool runs in its server, which loci does not confine
    remote_cwd: str | None = None

    def __init__(
        self,
        client: McpClient,
        catalog: Callable[[], Catalog],
        timeouts: dict[str, float],
        workdir: Path,
    ) -> None:
        self._client = client
        self._catalog = catalog
        self._timeouts = timeouts  # per server (its name in config.toml)
        self._workdir = workdir

    @property
    def cwd(self) -> Path:
        return self._workdir

    def start(self) -> None:
        self._client.start()

    def execute(
        self, code: str, *, timeout: float | None = None, cancel: threading.Event | None = None
    ) -> Iterator[KernelEvent]:
        """Call the tool ``code`` names, within its server's ``timeout`` (not the block's)."""
        try:
            call = parse_call(code)
        except ValueError as exc:
            yield from outputs(ToolResult("error", message=f"cannot read the call: {exc}"))
            return
        catalog = self._catalog()
        entry = catalog.find(call.server, call.tool)
        if entry is None:
            yield from outputs(ToolResult("error", message=catalog.unknown(call.server, call.tool)))
            return
        try:
            arguments = entry.arguments(call.args, call.kwargs)
        except ValueError as exc:
            yield from outputs(ToolResult("error", message=str(exc)))
            return
        server = entry.tool.server
        limit = self._timeouts.get(server, MCP_TIMEOUT)
        yield from outputs(
            self._client.call(server, entry.tool.name, arguments, timeout=limit, cancel=cancel)
        )

    def state(self, timeout: float = 0.0) -> KernelState | None:
        """A tool call leaves no variables behind."""
        return None

    def answer(self, text: str | None) -> None:
        """A tool call reads no stdin: there is nothing to answer."""

    def interrupt(self) -> None:
        """A call in progress stops when the session's Stop is set (``cancel``)."""

    def restart(self) -> None:
        """Nothing to restart: a server that stopped stays stopped."""

    def shutdown(self) -> None:
        """The servers belong to the session's ``McpTools``, which closes them."""
