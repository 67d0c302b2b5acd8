"""The ``loci`` command. Errors become one line on stderr and an exit code here, once.

``loci [OPTIONS] [REQUEST]...`` chats (one request and exit when REQUEST is given or piped on
stdin; an interactive chat otherwise). The other commands (``history``, ``show``, ``resume``,
``export``, ``models``, ``serve``, ``mcp``, ``users``) are subcommands; a first word that is
not one of them is a request.

At start-up the sandbox in force is checked; when what was asked for (``--sandbox``,
``--no-network``) cannot be enforced on this machine, a warning says so on stderr (and as a
``notice`` event with ``--json``) — loci then relies on approvals only.
"""

from __future__ import annotations

import importlib
import json
import signal
import sys
from pathlib import Path
from typing import Any

import click

from ..config import load_settings
from ..errors import LociError
from ..sanitize import clean
from .models_cmd import model_option
from .options import (
    gateway_options,
    model_options,
    run_options,
    sandbox_options,
    setting_option,
    settings_flags,
)


def _flags(**given: Any) -> dict[str, Any]:
    return {k: v for k, v in given.items() if v is not None}


@click.command(
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="Other commands: loci history | show ID | resume ID | export ID | "
    "models list|install | serve | mcp | acp | users add|list|remove|token|limit",
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
@click.version_option(package_name="loci", prog_name="loci")  # looked up only when asked
def chat(request: tuple[str, ...], as_json: bool, resume: str | None, **options: Any) -> None:
    """loci: a model writes code, loci runs it on your machine, you get the answer."""
    from . import run

    settings = load_settings(settings_flags(options))
    settings.workdir.mkdir(parents=True, exist_ok=True)
    run.announce_sandbox(settings, as_json=as_json)
    run.announce_model(settings, as_json=as_json)
    text = " ".join(request).strip()
    if not text and not sys.stdin.isatty():
        text = sys.stdin.read().strip()
    conv_id = run.resume_id(settings, resume)
    if settings.python and not settings.kernel_gateway:
        run.ensure_ipykernel(settings.python, settings.auto_run, interactive=sys.stdin.isatty())
    if as_json:
        if not text:
            raise click.UsageError("--json needs a request (as an argument or on stdin)")
        sys.exit(run.run_json(settings, text, conv_id))
    if text:
        sys.exit(run.run_once(settings, text, conv_id))
    run.run_chat(settings, conv_id)


# subcommand -> the module of this package that defines it (a function of the same name)
_LAZY = {
    "acp": "acp_cmd",
    "mcp": "mcp_cmd",
    "models": "models_cmd",
    "serve": "serve_cmd",
    "users": "users_cmd",
}


class _Commands(click.Group):
    """The subcommands; those in ``_LAZY`` are imported only when they are the one run (the
    pattern of click's "lazily loading subcommands"), so ``loci REQUEST`` loads none of them."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *_LAZY})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in _LAZY and cmd_name not in self.commands:
            module = importlib.import_module(f".{_LAZY[cmd_name]}", __package__)
            self.add_command(getattr(module, cmd_name))
        return super().get_command(ctx, cmd_name)

    def names(self) -> set[str]:
        return {*self.commands, *_LAZY}


@click.group(cls=_Commands)
def commands() -> None:
    """loci subcommands."""


@commands.command()
@click.option("--json", "as_json", is_flag=True)
@click.option("-n", "--limit", default=30, show_default=True)
def history(as_json: bool, limit: int) -> None:
    """List conversations, newest first; a branch shows the one it came from (``12 ← 7``)."""
    from ..store import Store

    with Store(load_settings().db_path) as store:
        rows = store.list_conversations(limit=limit)
    if as_json:
        click.echo(json.dumps([r.to_dict() for r in rows], ensure_ascii=False, indent=1))
        return
    if not rows:
        click.echo("no conversations yet")
    width = max((len(str(r.parent_id)) + 3 for r in rows if r.parent_id is not None), default=0)
    for r in rows:
        parent = f" ← {r.parent_id}" if r.parent_id is not None else ""  # a branch of it
        line = f"{r.id:>5}{parent:<{width}}  {_when(r.updated)}  {r.message_count:>3} msgs  "
        click.echo(line + f"{r.model:<24.24}  " + clean(r.title, colour=False))


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
    from ..store import Store

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
    from . import run

    settings = load_settings(_flags(auto_run=yes))
    run.run_chat(settings, run.resume_id(settings, str(conversation_id)))


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
    from ..store import Store

    with Store(load_settings().db_path) as store:
        record = store.get_conversation(conversation_id)
    text = export_ipynb(record) if fmt == "ipynb" else export_markdown(record)
    if output is None:
        click.echo(text)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}", err=True)


def _exit_on_signal(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> None:
    """Entry point: dispatch, and turn every LociError into one line and an exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    # SIGTERM / SIGHUP (a closed terminal) unwind normally, so every kernel is shut down.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _exit_on_signal)
    command: click.Command = commands if args and args[0] in commands.names() else chat
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
