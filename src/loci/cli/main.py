"""The ``loci`` command. Errors become one line on stderr and an exit code here, once.

``loci [OPTIONS] [REQUEST]...`` chats (one request and exit when REQUEST is given or piped on
stdin; an interactive chat otherwise). The other commands (``history``, ``show``, ``resume``,
``export``, ``models``) are subcommands; a first word that is not one of them is a request.

At start-up the sandbox in force is checked; when what was asked for (``--sandbox``,
``--no-network``) cannot be enforced on this machine, a warning says so on stderr (and as a
``notice`` event with ``--json``) — loci then relies on approvals only.
"""

from __future__ import annotations

import json
import signal
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from ..approval import Approver, Decision, auto_approve, deny_all
from ..config import Settings, load_settings
from ..errors import LociError, NotFoundError
from ..events import CodeBlock, Notice, TurnDone, to_dict
from ..sandbox import Sandbox
from ..sanitize import clean
from ..session import Session
from ..store import Store
from .interactive import TerminalApprover, repl, run_turn
from .models_cmd import model_option
from .options import (
    gateway_options,
    model_options,
    run_options,
    sandbox_options,
    setting_option,
    settings_flags,
)
from .render import Renderer

OK_STATUSES = ("done", "max_steps", "repeated")


def _flags(**given: Any) -> dict[str, Any]:
    return {k: v for k, v in given.items() if v is not None}


@click.command(
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="Other commands: loci history | show ID | resume ID | export ID | "
    "models list|install | serve | users add|list|remove|token|limit",
)
@click.argument("request", nargs=-1)
@model_option()
@model_options
@setting_option("auto_run")
@run_options
@setting_option("workdir")
@sandbox_options
@gateway_options
@click.option("--json", "as_json", is_flag=True, help="One JSON event per line on stdout")
@click.option(
    "--resume",
    "resume",
    is_flag=False,
    flag_value="last",
    default=None,
    metavar="[ID]",
    help="Continue a conversation (the latest if no ID)",
)
@click.version_option(version("loci"), "--version", prog_name="loci")
def chat(request: tuple[str, ...], as_json: bool, resume: str | None, **options: Any) -> None:
    """loci: a model writes code, loci runs it on your machine, you get the answer."""
    settings = load_settings(settings_flags(options))
    settings.workdir.mkdir(parents=True, exist_ok=True)
    _announce_sandbox(settings, as_json=as_json)
    text = " ".join(request).strip()
    if not text and not sys.stdin.isatty():
        text = sys.stdin.read().strip()
    conv_id = _resume_id(settings, resume)
    if settings.python and not settings.kernel_gateway:
        _ensure_ipykernel(settings.python, settings.auto_run, interactive=sys.stdin.isatty())
    if as_json:
        if not text:
            raise click.UsageError("--json needs a request (as an argument or on stdin)")
        sys.exit(_run_json(settings, text, conv_id))
    if text:
        sys.exit(_run_once(settings, text, conv_id))
    _run_chat(settings, conv_id)


def _ensure_ipykernel(python: str, auto: bool, *, interactive: bool) -> None:
    """``--python PATH``: that environment needs ipykernel; offer to install it."""
    import shlex
    import shutil
    import subprocess

    from ..errors import KernelError
    from ..kernels import has_ipykernel, ipykernel_install_command

    if not (Path(python).exists() or shutil.which(python)):
        raise KernelError(f"no Python interpreter at {python}")
    if has_ipykernel(python):
        return
    command = ipykernel_install_command(python)
    shown = shlex.join(command)
    if not auto:
        if not interactive:
            raise KernelError(f"{python} has no ipykernel; install it with: {shown} (or pass -y)")
        if not click.confirm(f"{python} has no ipykernel. Run `{shown}` now?", default=True):
            raise KernelError(f"loci needs ipykernel in {python}: {shown}")
    click.echo(f"installing ipykernel: {shown}", err=True)
    if subprocess.run(command, stdout=sys.stderr, check=False).returncode != 0:
        raise KernelError(f"installing ipykernel into {python} failed; try: {shown}")


def _announce_sandbox(settings: Settings, *, as_json: bool) -> None:
    """Say at start-up where code works when it is not where loci was started, and when
    the confinement asked for cannot be enforced here."""
    if settings.started_in is not None:
        note = workspace_note(settings)
        click.echo(f"loci: {note}", err=True)
        if as_json:
            sys.stdout.write(json.dumps(to_dict(Notice("info", note))) + "\n")
    if settings.kernel_gateway:
        if not as_json:
            click.echo(
                f"loci: code runs on the kernel gateway {settings.kernel_gateway}; "
                "loci's local sandbox does not apply there",
                err=True,
            )
        return
    warning = Sandbox.from_settings(settings).warning()
    if warning is None:
        return
    click.echo(f"loci: warning: {warning}", err=True)
    if as_json:
        sys.stdout.write(json.dumps(to_dict(Notice("warning", warning))) + "\n")


def workspace_note(settings: Settings) -> str:
    """The start-up line for a workspace moved out of a folder too broad to be writable."""
    where = "your home folder" if settings.started_in == Path.home() else settings.started_in
    return (
        f"workspace {settings.workdir}: you started loci in {where}, which code may read "
        "(credential stores hidden) but not write; choose another with --workdir DIR"
    )


class ConfirmingApprover:
    """The terminal approver, able to confirm risky code: it shows the reason, then asks."""

    can_confirm = True

    def __init__(self, console: Console) -> None:
        self.console = console
        self.inner = TerminalApprover(console)

    def __call__(self, block: CodeBlock) -> Decision:
        return self.inner(block)

    def confirm_risk(self, block: CodeBlock, reason: str) -> Decision:
        from rich.text import Text

        style = "bold yellow" if self.console.is_terminal else ""
        warning = clean(f"⚠ this code {reason}. Check it before you say yes.")
        self.console.print(Text(warning, style=style))
        return self.inner(block)


def _resume_id(settings: Settings, resume: str | None) -> int | None:
    if resume is None:
        return None
    with Store(settings.db_path) as store:
        if resume == "last":
            latest = store.list_conversations(limit=1)
            if not latest:
                raise NotFoundError("there is no conversation to resume yet")
            return latest[0].id
        if not resume.isdigit():
            raise click.BadParameter(f"{resume!r} is not a conversation id", param_hint="--resume")
        store.get_conversation(int(resume))  # raises NotFoundError
        return int(resume)


def _session(settings: Settings, approver: Approver, conv_id: int | None) -> Session:
    """A Session whose model, when it must be installed first, shows a bar on stderr."""
    from ..models.registry import get_model
    from .progress import InstallBar

    with InstallBar() as bar:
        model = get_model(settings, progress=bar)
    return Session(settings, model=model, approver=approver, conversation_id=conv_id)


def _run_json(settings: Settings, text: str, conv_id: int | None) -> int:
    approver: Approver = auto_approve if settings.auto_run else deny_all
    done: TurnDone | None = None
    with _session(settings, approver, conv_id) as session:
        for ev in session.run(text):
            sys.stdout.write(json.dumps(to_dict(ev), ensure_ascii=False) + "\n")
            sys.stdout.flush()
            if isinstance(ev, TurnDone):
                done = ev
    return _exit_status(done)


def _exit_status(done: TurnDone | None) -> int:
    if done is None or done.status not in OK_STATUSES:
        status = done.status if done else "error"
        detail = f": {done.message}" if done and done.message else ""
        click.echo(f"loci: request ended with status {status}{detail}", err=True)
        return 130 if status == "interrupted" else 1
    return 0


def _run_once(settings: Settings, text: str, conv_id: int | None) -> int:
    console = Console(highlight=False)
    interactive = sys.stdin.isatty() and console.is_terminal
    approver: Approver = ConfirmingApprover(console) if interactive else deny_all
    with _session(settings, approver, conv_id) as session:
        done = run_turn(session, text, Renderer(console))
    return _exit_status(done)


def _run_chat(settings: Settings, conv_id: int | None) -> None:
    console = Console(highlight=False)
    approver = ConfirmingApprover(console)
    with _session(settings, approver, conv_id) as session:
        repl(session, console, Renderer(console, show_usage=False))


@click.group()
def commands() -> None:
    """loci subcommands."""


@commands.command()
@click.option("--json", "as_json", is_flag=True)
@click.option("-n", "--limit", default=30, show_default=True)
def history(as_json: bool, limit: int) -> None:
    """List conversations, newest first."""
    with Store(load_settings().db_path) as store:
        rows = store.list_conversations(limit=limit)
    if as_json:
        click.echo(json.dumps([r.to_dict() for r in rows], ensure_ascii=False, indent=1))
        return
    if not rows:
        click.echo("no conversations yet")
    for r in rows:
        line = f"{r.id:>5}  {_when(r.updated)}  {r.message_count:>3} msgs  {r.model:<24.24}  "
        click.echo(line + clean(r.title, colour=False))


def _when(ts: float | str) -> str:
    from datetime import datetime

    if isinstance(ts, str):
        return ts[:16]
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M")


@commands.command()
@click.argument("conversation_id", type=int)
@click.option("--json", "as_json", is_flag=True)
def show(conversation_id: int, as_json: bool) -> None:
    """Show a whole conversation with every execution's output."""
    from ..export import export_markdown

    with Store(load_settings().db_path) as store:
        record = store.get_conversation(conversation_id)
    if as_json:
        click.echo(json.dumps(record.to_dict(), ensure_ascii=False, indent=1))
    else:
        click.echo(export_markdown(record))


@commands.command()
@click.argument("conversation_id", type=int)
@setting_option("auto_run")
def resume(conversation_id: int, yes: bool | None) -> None:
    """Continue a conversation (the kernel is fresh; the model is told so)."""
    settings = load_settings(_flags(auto_run=yes))
    _run_chat(settings, _resume_id(settings, str(conversation_id)))


@commands.command()
@click.argument("conversation_id", type=int)
@click.option(
    "--format", "fmt", type=click.Choice(["ipynb", "md"]), default="ipynb", show_default=True
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File to write (default: stdout)",
)
def export(conversation_id: int, fmt: str, output: Path | None) -> None:
    """Export a conversation as a Jupyter notebook or Markdown."""
    from ..export import export_ipynb, export_markdown

    with Store(load_settings().db_path) as store:
        record = store.get_conversation(conversation_id)
    text = export_ipynb(record) if fmt == "ipynb" else export_markdown(record)
    if output is None:
        click.echo(text)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}", err=True)


def _attach_optional_commands() -> None:
    from .models_cmd import models
    from .serve_cmd import serve
    from .users_cmd import users

    commands.add_command(models)
    commands.add_command(serve)
    commands.add_command(users)


def _exit_on_signal(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> None:
    """Entry point: dispatch, and turn every LociError into one line and an exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    # SIGTERM / SIGHUP (a closed terminal) unwind normally, so every kernel is shut down.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _exit_on_signal)
    _attach_optional_commands()
    command: click.Command = commands if args and args[0] in commands.commands else chat
    try:
        command.main(args, prog_name="loci", standalone_mode=False)
    except LociError as exc:
        click.echo(f"loci: error: {clean(exc.message, colour=False)}", err=True)
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)


if __name__ == "__main__":  # pragma: no cover
    main()
