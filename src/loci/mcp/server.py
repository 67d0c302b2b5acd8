"""``loci mcp``: loci as an MCP server, for other tools' models to run code with.

    server = create_server(settings, Conversations(settings))
    anyio.run(server.run_stdio_async)                    # stdio (the default)
    app = http_app(settings, conversations, token=T)     # streamable HTTP at /mcp

The tools: ``run_python`` and ``run_shell`` (a block in the session's persistent kernels,
through ``Session.execute``: the same approval, sandbox, limits, timeout, pip-install offer
and full-output storage as a terminal conversation), ``get_output`` (a past execution of the
conversation in full), ``list_files`` and ``read_file`` (the workspace, by the web UI's path
rules). Each MCP session is one loci conversation (``loci.mcp.conversations``); asking the
person goes through elicitation (``loci.mcp.approver``). A cancelled call interrupts its
code. Bad arguments are answered with an error result by the SDK; a ``LociError`` becomes one
here, in ``tool_errors``, the one place this front end maps errors.

Over HTTP the app sits behind ``loci serve``'s ``Guard`` (the token, the Host header, and
Origin on every request), and a session the client ends (``DELETE``) closes its kernels.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
from collections.abc import Iterable, Iterator
from functools import partial
from typing import Annotated, Any

import anyio
import anyio.to_thread
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.transport_security import TransportSecuritySettings
from mcp_types import CallToolResult, ToolAnnotations
from pydantic import Field
from starlette.types import ASGIApp, Receive, Scope, Send

from ..config import Settings
from ..context import DEFAULT_OUTPUT_CHARS
from ..errors import LociError, NotFoundError
from ..web.security import Guard
from . import files
from .approver import Asker
from .conversations import Conversation, Conversations
from .results import Progress, block_result, execution_result

PATH = "/mcp"
PAGE_CHARS = 20_000  # of a file or a full output, per call
SESSION_HEADER = "mcp-session-id"

Code = Annotated[str, Field(min_length=1, description="The code to run")]
Offset = Annotated[int, Field(ge=0, description="Where to start reading, in characters")]


@contextlib.contextmanager
def tool_errors() -> Iterator[None]:
    """A LociError becomes the tool's error result, with its message."""
    try:
        yield
    except LociError as exc:
        raise ToolError(exc.message) from exc


def session_key(ctx: Context[Any, Any]) -> str | None:
    """The MCP session a request belongs to: its ``Mcp-Session-Id`` (None over stdio)."""
    headers = ctx.headers
    return headers.get(SESSION_HEADER) if headers else None


def client_name(ctx: Context[Any, Any]) -> str:
    params = ctx.session.client_params
    return params.client_info.name if params is not None else "client"


class Tools:
    """The tools, over one server's conversations."""

    def __init__(self, settings: Settings, conversations: Conversations) -> None:
        self.settings = settings
        self.conversations = conversations

    async def run_python(self, code: Code, ctx: Context[Any, Any]) -> CallToolResult:
        return await self._run("python", code, ctx)

    async def run_shell(self, code: Code, ctx: Context[Any, Any]) -> CallToolResult:
        return await self._run("shell", code, ctx)

    async def _run(self, language: str, code: str, ctx: Context[Any, Any]) -> CallToolResult:
        with tool_errors():
            conv = await self._conversation(ctx)
            events, text = await conv.execute(language, code, Asker(ctx), Progress(ctx))
        session = conv.session
        return block_result(events, text, session.kernels.workdir, session.conversation_id)

    async def _conversation(self, ctx: Context[Any, Any], create: bool = True) -> Conversation:
        found = await self.conversations.get(session_key(ctx), client_name(ctx), create=create)
        if found is None:
            raise NotFoundError("no code has run in this session yet")
        return found

    async def get_output(
        self,
        execution_id: Annotated[int, Field(description="The execution's id (#N in a result)")],
        ctx: Context[Any, Any],
        offset: Offset = 0,
    ) -> CallToolResult:
        with tool_errors():
            session = (await self._conversation(ctx, create=False)).session
            find = partial(session.store.get_execution, conversation_id=session.conversation_id)
            record = await anyio.to_thread.run_sync(find, execution_id)
        return execution_result(record, offset, PAGE_CHARS)

    async def list_files(self) -> CallToolResult:
        where = self.settings.workdir, self.settings.home
        return await anyio.to_thread.run_sync(files.list_result, *where)

    async def read_file(
        self,
        path: Annotated[str, Field(min_length=1, description="A path inside the workspace")],
        offset: Offset = 0,
    ) -> CallToolResult:
        read = partial(files.read_file, self.settings.workdir, self.settings.home)
        with tool_errors():
            return await anyio.to_thread.run_sync(read, path, offset, PAGE_CHARS)


def _descriptions(settings: Settings) -> dict[str, str]:
    where = f"in {settings.workdir}"
    limit = f"{settings.timeout:g} seconds" if settings.timeout else "no time limit"
    kept = (
        f"Returns what it printed, trimmed to about {DEFAULT_OUTPUT_CHARS} characters (the "
        "full output is stored: get_output fetches it by the execution id the result names), "
        f"the images it drew and the files it wrote. Each call runs {where}, with {limit}."
    )
    return {
        "run_python": "Run Python code on the user's machine in a persistent Jupyter kernel: "
        "variables, imports and loaded data stay between calls, and the value of the last "
        "expression is shown. Missing packages are offered for pip install. " + kept,
        "run_shell": "Run shell (bash) commands on the user's machine in a persistent shell: "
        "the working directory and exported variables stay between calls. " + kept,
        "get_output": "The full stored output of an earlier execution of this session, "
        f"{PAGE_CHARS} characters at a time (pass offset to read on), with its images.",
        "list_files": f"The files of the workspace ({settings.workdir}), newest first.",
        "read_file": "Read a file of the workspace by its relative path: text "
        f"({PAGE_CHARS} characters at a time; pass offset to read on) or an image.",
    }


def _version() -> str:
    try:
        return importlib.metadata.version("loci")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - a source checkout
        return ""


def create_server(settings: Settings, conversations: Conversations) -> MCPServer[Any]:
    """The MCP server: its tools over ``conversations``, closed when it stops."""
    server: MCPServer[Any] = MCPServer(
        "loci",
        title="loci",
        instructions=(
            "loci runs code on this machine, in persistent sessions: run_python and run_shell "
            "keep their state between calls. Outputs are trimmed; get_output returns one in "
            "full. list_files and read_file show the workspace's files."
        ),
        version=_version(),
        log_level="WARNING",
        lifespan=lambda _server: conversations.lifetime(),
    )
    tools = Tools(settings, conversations)
    about = _descriptions(settings)
    runs = ToolAnnotations(destructive_hint=True, open_world_hint=True)
    reads = ToolAnnotations(read_only_hint=True, open_world_hint=False)
    for name, fn, hints in (
        ("run_python", tools.run_python, runs),
        ("run_shell", tools.run_shell, runs),
        ("get_output", tools.get_output, reads),
        ("list_files", tools.list_files, reads),
        ("read_file", tools.read_file, reads),
    ):
        server.add_tool(
            fn, name=name, description=about[name], annotations=hints, structured_output=False
        )
    return server


class _EndSessions:
    """Closes a session's conversation when its client ends it (``DELETE`` with its id)."""

    def __init__(self, app: ASGIApp, conversations: Conversations) -> None:
        self.app = app
        self.conversations = conversations

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)
        if scope["type"] == "http" and scope["method"] == "DELETE":
            for name, value in scope["headers"]:
                if name == SESSION_HEADER.encode():
                    await self.conversations.end(value.decode("latin-1"))


def http_app(
    settings: Settings,
    conversations: Conversations,
    *,
    token: str,
    allowed_hosts: Iterable[str] | None = None,
) -> ASGIApp:
    """The streamable HTTP app (at ``/mcp``) behind ``loci serve``'s Guard. Sessions idle
    for ``conversations.idle_timeout`` seconds end, and their kernels with them."""
    if not token:
        raise ValueError("the MCP HTTP app needs a non-empty token")
    server = create_server(settings, conversations)
    app = server.streamable_http_app(
        streamable_http_path=PATH,
        # the Guard checks Host and Origin, as for loci serve; the SDK's own check is off
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        session_idle_timeout=conversations.idle_timeout or None,
    )
    return Guard(
        _EndSessions(app, conversations),
        token=token,
        allowed_hosts=allowed_hosts,
        strict_origin=True,
    )


async def serve_stdio(settings: Settings, conversations: Conversations) -> None:
    """Serve over stdin and stdout until the client closes them."""
    await create_server(settings, conversations).run_stdio_async()
