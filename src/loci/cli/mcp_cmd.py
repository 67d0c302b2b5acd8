"""``loci mcp``: loci as an MCP server, so other tools' models run code through it.

Over stdio by default (a client such as Claude Desktop, Cursor or Codex starts it); ``--http``
serves streamable HTTP at ``/mcp`` on 127.0.0.1 with ``loci serve``'s rules: a fresh random
token printed at start (``Authorization: Bearer T`` or ``?token=T``), Origin checked, and any
other address refused without an explicit ``--token``. The code runs as in ``loci``: in the
workspace, with the sandbox, limits and timeout given here or in config.toml.

The client's model wrote the code and the client has shown the person the call, so blocks run
without a second question, except risky code, which loci asks the person about through the
client (elicitation); ``--ask``, or ``auto_run = false`` in config.toml, asks for every block.
A client that cannot be asked gets the block refused, with the reason.
"""

from __future__ import annotations

from typing import Any

import click

from ..config import Settings, load_settings, read_config_file
from .options import gateway_options, sandbox_options, setting_option, settings_flags
from .serve_cmd import bind_socket, check_bind, run_app

IDLE_TIMEOUT = 1800.0  # seconds before an idle HTTP session ends, with its kernels


def auto_run(settings: Settings, ask: bool) -> bool:
    """Whether blocks run without asking: yes, unless ``--ask`` or config.toml says no."""
    return not ask and read_config_file(settings.config_path).get("auto_run") is not False


@click.command()
@click.option("--http", "http", is_flag=True, help="Serve streamable HTTP instead of stdio")
@click.option("--host", default="127.0.0.1", show_default=True, help="With --http: address")
@click.option("--port", default=8766, show_default=True, type=click.IntRange(0, 65535))
@click.option("--token", help="With --http: access token (default: a new random one, printed)")
@click.option("--ask", is_flag=True, help="Ask (by elicitation) before every block, not only risky")
@click.option(
    "--resume",
    is_flag=False,
    flag_value="last",
    default=None,
    metavar="[ID]",
    help="Over stdio: continue a conversation (the latest if no ID)",
)
@setting_option("workdir")
@setting_option("timeout")
@setting_option("python")
@sandbox_options
@gateway_options
def mcp(
    http: bool,
    host: str,
    port: int,
    token: str | None,
    ask: bool,
    resume: str | None,
    **options: Any,
) -> None:
    """Serve loci's kernels to other tools over MCP (stdio, or --http)."""
    from ..models.base import import_extra

    import_extra("mcp.server.mcpserver", "loci mcp", "mcp", "mcp")
    if http:
        check_bind(host, token)
        if resume:
            raise click.UsageError("--resume works over stdio: each HTTP session is its own")
    from . import run

    settings = load_settings(settings_flags(options))
    settings = settings.replace(auto_run=auto_run(settings, ask))
    settings.workdir.mkdir(parents=True, exist_ok=True)
    run.announce_sandbox(settings, as_json=False)  # stderr: stdout is the protocol's
    if settings.python and not settings.kernel_gateway:
        run.ensure_ipykernel(settings.python, False, interactive=False)
    conv_id = run.resume_id(settings, resume)
    asks = "asks before every block" if not settings.auto_run else "asks only for risky code"
    where = f"workspace {settings.workdir}; {asks}"
    if http:
        _serve_http(settings, host, port, token, where)
    else:
        _serve_stdio(settings, conv_id, where)


def _serve_stdio(settings: Settings, conv_id: int | None, where: str) -> None:
    import anyio

    from ..mcp.conversations import Conversations
    from ..mcp.server import serve_stdio

    click.echo(f"loci mcp: serving over stdio; {where}", err=True)
    anyio.run(serve_stdio, settings, Conversations(settings, resume=conv_id))


def _serve_http(settings: Settings, host: str, port: int, token: str | None, where: str) -> None:
    from ..mcp.conversations import Conversations
    from ..mcp.server import PATH, http_app
    from ..web.security import LOOPBACK_HOSTS, is_loopback, new_token

    token = token or new_token()
    conversations = Conversations(settings, idle_timeout=IDLE_TIMEOUT)
    app = http_app(
        settings,
        conversations,
        token=token,
        allowed_hosts=LOOPBACK_HOSTS if is_loopback(host) else None,
    )
    sock = bind_socket(host, port)
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{sock.getsockname()[1]}{PATH}"
    click.echo(
        f"loci mcp: serving on {url} (header Authorization: Bearer {token}); {where}\n"
        "Press Ctrl-C to stop.",
        err=True,
    )
    run_app(app, sock)
