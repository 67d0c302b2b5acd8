"""Running requests from the command line: one request (plain text or ``--json``) or the
interactive chat, with the approver each one uses and the start-up notes.

``loci.cli.main`` imports this module only when a request is to run, so ``loci --help``,
``loci --version`` and the history commands load no session, kernel, model or rich code.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Literal

import click
from rich.console import Console

from ..approval import Approver, Decision, auto_approve, deny_all
from ..config import Settings
from ..errors import NotFoundError
from ..events import CodeBlock, Notice, TurnDone, to_dict
from ..sandbox import Sandbox
from ..sanitize import clean
from ..session import Session
from ..stdin import InputProvider, no_input
from ..store import Store
from .interactive import TerminalApprover, TerminalInput, repl, run_turn
from .render import Renderer

OK_STATUSES = ("done", "max_steps", "repeated")


def workspace_note(settings: Settings) -> str:
    """The start-up line for a workspace moved out of a folder too broad to be writable."""
    where = "your home folder" if settings.started_in == Path.home() else settings.started_in
    return (
        f"workspace {settings.workdir}: you started loci in {where}, which code may read "
        "(credential stores hidden) but not write; choose another with --workdir DIR"
    )


def _announce(level: Literal["info", "warning"], text: str, *, as_json: bool) -> None:
    """A start-up line on stderr, and under ``--json`` a notice event on stdout too."""
    click.echo(f"loci: {'warning: ' if level == 'warning' else ''}{text}", err=True)
    if as_json:
        sys.stdout.write(json.dumps(to_dict(Notice(level, text))) + "\n")


def announce_sandbox(settings: Settings, *, as_json: bool) -> None:
    """Say at start-up where code works when it is not where loci was started, and when
    the confinement asked for cannot be enforced here."""
    if settings.started_in is not None:
        _announce("info", workspace_note(settings), as_json=as_json)
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
    _announce("warning", warning, as_json=as_json)


def announce_model(settings: Settings, *, as_json: bool) -> None:
    """Say which embedded model plain ``local`` chose for this machine."""
    from ..models.registry import parse_spec

    provider, rest = parse_spec(settings.model, api_base=settings.api_base)
    if provider.prefix != "local" or rest:
        return
    from ..models.local import default_note

    _announce("info", default_note(), as_json=as_json)


def ensure_ipykernel(python: str, auto: bool, *, interactive: bool) -> None:
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


def resume_id(settings: Settings, resume: str | None) -> int | None:
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


def open_session(
    settings: Settings,
    approver: Approver,
    conv_id: int | None,
    *,
    as_json: bool = False,
    stdin: InputProvider = no_input,
) -> Session:
    """A Session whose model, when it must be installed first, shows a bar on stderr; the
    project's instructions (AGENTS.md) it found are said once, here at start-up."""
    from ..models.registry import get_model
    from .progress import InstallBar

    with InstallBar() as bar:
        model = get_model(settings, progress=bar)
    session = Session(
        settings, model=model, approver=approver, conversation_id=conv_id, stdin=stdin
    )
    if session.instructions is not None:
        _announce(session.instructions.level, session.instructions.note(), as_json=as_json)
        session.instructions_shown = True
    return session


def run_json(settings: Settings, text: str, conv_id: int | None) -> int:
    approver: Approver = auto_approve if settings.auto_run else deny_all
    done: TurnDone | None = None
    with open_session(settings, approver, conv_id, as_json=True) as session:
        for ev in session.run(text):
            sys.stdout.write(json.dumps(to_dict(ev), ensure_ascii=False) + "\n")
            sys.stdout.flush()
            if isinstance(ev, TurnDone):
                done = ev
    return exit_status(done)


def exit_status(done: TurnDone | None) -> int:
    if done is None or done.status not in OK_STATUSES:
        status = done.status if done else "error"
        detail = f": {done.message}" if done and done.message else ""
        click.echo(f"loci: request ended with status {status}{detail}", err=True)
        return 130 if status == "interrupted" else 1
    return 0


def run_once(settings: Settings, text: str, conv_id: int | None) -> int:
    console = Console(highlight=False)
    interactive = sys.stdin.isatty() and console.is_terminal
    approver: Approver = ConfirmingApprover(console) if interactive else deny_all
    stdin = TerminalInput() if interactive else no_input  # a pipe: reads get end-of-file
    with open_session(settings, approver, conv_id, stdin=stdin) as session:
        done = run_turn(session, text, Renderer(console))
    return exit_status(done)


def run_chat(settings: Settings, conv_id: int | None) -> None:
    console = Console(highlight=False)
    approver = ConfirmingApprover(console)
    with open_session(settings, approver, conv_id, stdin=TerminalInput()) as session:
        repl(session, console, Renderer(console, show_usage=False))
