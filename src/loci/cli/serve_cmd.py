"""``loci serve``: the browser UI and HTTP API on a local port, guarded by a token.

Binds 127.0.0.1 by default with a fresh random token printed in the URL. Any other address
needs an explicit ``--token`` (anyone who can reach the port could otherwise run code here),
or ``--users``: then each user (``loci users add NAME``) logs in with their own token and sees
only their own conversations and files. ``--max-kernels`` caps live kernels per user and
``--idle-timeout`` shuts down the kernels of idle conversations; ``--kernel-gateway`` runs
every kernel on a Jupyter Kernel Gateway instead of this machine.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..config import Settings, load_settings
from .models_cmd import model_option
from .options import (
    gateway_options,
    model_options,
    run_options,
    sandbox_options,
    setting_option,
    settings_flags,
)

if TYPE_CHECKING:
    from ..store.users import Users


def check_bind(host: str, token: str | None, users: bool = False) -> None:
    """Refuse a non-loopback address without an explicit token (or per-user tokens)."""
    from ..web.security import is_loopback

    if users and token:
        raise click.UsageError("--users and --token exclude each other: users log in with theirs")
    if not is_loopback(host) and not token and not users:
        raise click.UsageError(
            f"refusing to listen on {host} without --token: anyone who can reach this machine "
            "could run code on it. Pass --token with a long random secret, use --users, or "
            "use --host 127.0.0.1 (the default)."
        )


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (a ClickException naming why it cannot be)."""
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
@model_option("Default model spec for new conversations: {forms}")
@model_options
@setting_option("auto_run", help="Auto-run code in new conversations")
@run_options
@setting_option(
    "workdir",
    help="One folder for every conversation (default: a new one per conversation "
    "under LOCI_HOME/workspaces)",
)
@click.option("--users", "multi_user", is_flag=True, help="Many users, each with their own token")
@click.option(
    "--max-kernels", type=click.IntRange(min=1), help="Live conversations (kernels) per user"
)
@click.option(
    "--idle-timeout",
    type=click.FloatRange(min=0),
    default=1800,
    show_default=True,
    help="Seconds before an idle conversation's kernels are shut down (0: never)",
)
@sandbox_options
@gateway_options
@click.option(
    "--allow-unconfined",
    is_flag=True,
    help="With --users: serve even where the sandbox cannot keep users' code apart",
)
def serve(
    host: str,
    port: int,
    token: str | None,
    workdir: Path | None,
    multi_user: bool,
    max_kernels: int | None,
    idle_timeout: float,
    allow_unconfined: bool,
    **options: Any,
) -> None:
    """Serve the browser UI and HTTP API (127.0.0.1, token-protected)."""
    check_bind(host, token, multi_user)
    if multi_user and workdir:
        raise click.UsageError("--users and --workdir exclude each other: each user has folders")
    from ..web import create_app
    from ..web.security import LOOPBACK_HOSTS, is_loopback, new_token

    settings = load_settings(settings_flags({**options, "workdir": workdir}))
    if workdir:
        settings.workdir.mkdir(parents=True, exist_ok=True)
    users = _users(settings) if multi_user else None
    if users is not None and not allow_unconfined:
        _check_confined(settings)
    token = "" if users else token or new_token()
    app = create_app(
        settings,
        token=token,
        shared_workdir=workdir is not None,
        allowed_hosts=LOOPBACK_HOSTS if is_loopback(host) else None,
        users=users,
        max_kernels=max_kernels,
        idle_timeout=idle_timeout,
    )
    sock = bind_socket(host, port)
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{sock.getsockname()[1]}/"
    url += "?token=YOUR_TOKEN (each user's own)" if users else f"?token={token}"
    where = f"; kernels on {settings.kernel_gateway}" if settings.kernel_gateway else ""
    click.echo(f"loci is serving on {url}{where}\nPress Ctrl-C to stop.", err=True)
    if workdir and settings.started_in is not None:
        from .run import workspace_note

        click.echo(f"loci: {workspace_note(settings)}", err=True)
    if not settings.kernel_gateway and (warning := _sandbox_warning(settings)):
        click.echo(f"loci: warning: {warning}", err=True)
    run_app(app, sock)


def _users(settings: Settings) -> Users:
    from ..store import Store
    from ..store.users import Users

    users = Users(Store(settings.db_path))
    if not users.all():
        raise click.UsageError(
            "--users needs at least one user: add one with `loci users add NAME`"
        )
    return users


def _sandbox_warning(settings: Settings) -> str | None:
    """What the sandbox asked for cannot enforce here (as ``loci`` says at start-up)."""
    from ..sandbox import Sandbox

    return Sandbox.from_settings(settings).warning()


def _check_confined(settings: Settings) -> None:
    """Many users on local kernels need the sandbox: without it anyone's code reads the
    history database and everyone else's files."""
    from ..sandbox import Sandbox

    if settings.kernel_gateway:
        return
    box = Sandbox.from_settings(settings)
    if not box.active or box.mode == "off":
        why = box.warning() or "the sandbox is off"
        raise click.UsageError(
            f"--users needs the sandbox to keep users' code apart, but {why}. Install "
            "bubblewrap, use --kernel-gateway, or pass --allow-unconfined if every user is "
            "trusted with everyone's files."
        )


def run_app(app: object, sock: socket.socket) -> None:
    """Serve the ASGI ``app`` on ``sock`` with uvicorn until stopped."""
    import uvicorn

    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=5)  # type: ignore[arg-type]
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
