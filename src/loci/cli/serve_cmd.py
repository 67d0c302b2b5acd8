"""``loci serve``: the browser UI and HTTP API on a local port, guarded by a token.

Binds 127.0.0.1 by default with a fresh random token printed in the URL. Any other address
needs an explicit ``--token`` (anyone who can reach the port could otherwise run code here).
"""

from __future__ import annotations

import socket
from pathlib import Path

import click

from ..config import load_settings


def check_bind(host: str, token: str | None) -> None:
    """Refuse a non-loopback address without an explicit token."""
    from ..web.security import is_loopback

    if not is_loopback(host) and not token:
        raise click.UsageError(
            f"refusing to listen on {host} without --token: anyone who can reach this machine "
            "could run code on it. Pass --token with a long random secret, or use "
            "--host 127.0.0.1 (the default)."
        )


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535))
@click.option("--token", help="Access token (default: a new random one, printed in the URL)")
@click.option("-m", "--model", help="Default model spec for new conversations")
@click.option("--api-base", help="OpenAI-compatible server URL")
@click.option("--api-key", help="API key for the model provider")
@click.option("-y", "--yes", is_flag=True, default=None, help="Auto-run code in new conversations")
@click.option("--max-steps", type=click.IntRange(min=1), help="Cap on code rounds per request")
@click.option("--timeout", type=click.FloatRange(min=0), help="Seconds per execution (0: none)")
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    help="One folder for every conversation (default: a new one per conversation "
    "under LOCI_HOME/workspaces)",
)
@click.option("--python", "python", help="Python interpreter for the kernels")
def serve(
    host: str,
    port: int,
    token: str | None,
    model: str | None,
    api_base: str | None,
    api_key: str | None,
    yes: bool | None,
    max_steps: int | None,
    timeout: float | None,
    workdir: Path | None,
    python: str | None,
) -> None:
    """Serve the browser UI and HTTP API (127.0.0.1, token-protected)."""
    check_bind(host, token)
    from ..web import create_app
    from ..web.security import LOOPBACK_HOSTS, is_loopback, new_token

    flags = {
        "model": model,
        "api_base": api_base,
        "api_key": api_key,
        "auto_run": yes,
        "max_steps": max_steps,
        "timeout": timeout,
        "python": python,
        "workdir": workdir.resolve() if workdir else None,
    }
    settings = load_settings({k: v for k, v in flags.items() if v is not None})
    if workdir:
        settings.workdir.mkdir(parents=True, exist_ok=True)
    token = token or new_token()
    app = create_app(
        settings,
        token=token,
        shared_workdir=workdir is not None,
        allowed_hosts=LOOPBACK_HOSTS if is_loopback(host) else None,
    )
    sock = _bind(host, port)
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{sock.getsockname()[1]}/?token={token}"
    click.echo(f"loci is serving on {url}\nPress Ctrl-C to stop.", err=True)
    _run(app, sock)


def _run(app: object, sock: socket.socket) -> None:
    import uvicorn

    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=5)  # type: ignore[arg-type]
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
