"""The interactive terminal: the approval question, the code's ``input()`` prompts, Ctrl-C
handling, the REPL and its %commands.

Thin: it reads keys with prompt_toolkit, hands text to ``Session.run`` and every event to the
``Renderer``.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

import click
from prompt_toolkit import PromptSession
from prompt_toolkit.history import FileHistory
from rich.console import Console
from rich.text import Text

from .. import prompts
from ..approval import Decision
from ..compaction import compact_now, is_request
from ..context import input_budget
from ..errors import LociError
from ..events import CodeBlock, InputRequest, TurnDone
from ..models.base import message_tokens
from ..sanitize import clean
from ..session import Session
from .render import Renderer

HELP = """\
%help             this list
%reset            start a new conversation (fresh kernels)
%undo             forget your last request and what followed
%edit [N]         list your requests; edit request N and go on from there (a new branch)
%tokens           tokens used, and what the next call would send of the window
%compact          send the turns before your last request as a summary from now on
%vars             what the Python kernel holds (as the model is told)
%model [SPEC]     show or switch the model (e.g. %model openai:gpt-4.1-mini)
%auto             toggle running code without asking
%effort [N]       show or set the attempts per request that runs code (the answer most agree on)
%export [md|ipynb] [FILE]   write this conversation to a file
%exit             leave (Ctrl-D does the same)
Commands also work with / instead of %. Ctrl-C stops the model or the running code."""

_ASK = "Run? [y]es [n]o [e]dit [a]lways: "


class TerminalApprover:
    """Asks ``Run? [y]es [n]o [e]dit [a]lways`` on the terminal."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def __call__(self, block: CodeBlock) -> Decision:
        code = block.code
        while True:
            try:
                answer = PromptSession[str]().prompt(_ASK).strip().lower()
            except (KeyboardInterrupt, EOFError):
                return Decision(False, "user", code, reason="the user said no")
            if answer in ("y", "yes", ""):
                return Decision(True, "user", code)
            if answer in ("a", "always"):
                return Decision(True, "user", code, always=True)
            if answer in ("n", "no"):
                reason = "the user said no"
                try:
                    extra = PromptSession[str]().prompt("Tell the model why (optional): ")
                except (KeyboardInterrupt, EOFError):
                    extra = ""
                return Decision(False, "user", code, reason=f"{reason}. {extra}".strip(". "))
            if answer in ("e", "edit"):
                code = edit_code(code, block.language)
                self.console.print("[dim]edited code:[/dim]")
                self.console.print(clean(code), markup=False, highlight=False)


class TerminalInput:
    """Shows the running code's prompt and sends the line typed (hidden for a password).
    Ctrl-D answers end-of-file; Ctrl-C stops the request; the block's timeout ends the wait."""

    can_answer = True

    def __call__(
        self, request: InputRequest, stop: threading.Event, timeout: float | None
    ) -> str | None:
        prompt = PromptSession[str]()
        timer = threading.Timer(timeout, _leave, (prompt,)) if timeout is not None else None
        if timer is not None:
            timer.daemon = True
            timer.start()
        try:
            return prompt.prompt(clean(request.prompt), is_password=request.password)
        except EOFError:
            return None
        except KeyboardInterrupt:
            stop.set()  # as Ctrl-C does while the code runs
            return None
        finally:
            if timer is not None:
                timer.cancel()


def _leave(prompt: PromptSession[str]) -> None:
    """End a prompt from another thread (its block timed out)."""
    app, loop = prompt.app, prompt.app.loop
    if app.is_running and loop is not None:
        loop.call_soon_threadsafe(lambda: app.exit(exception=EOFError()))


def edit_code(code: str, language: str) -> str:
    """Edit a code block (see ``edit_text``)."""
    return edit_text(code, ".py" if language == "python" else ".sh")


def edit_text(text: str, extension: str) -> str:
    """$EDITOR (or $VISUAL) when set, else inline multi-line editing (Esc Enter to finish)."""
    if os.environ.get("VISUAL") or os.environ.get("EDITOR"):
        edited = click.edit(text, extension=extension, require_save=False)
        return text if edited is None else edited.rstrip("\n")
    try:
        return PromptSession[str]().prompt(
            "edit (Esc Enter to finish)\n", default=text, multiline=True
        )
    except (KeyboardInterrupt, EOFError):
        return text


@contextmanager
def ctrl_c_interrupts(session: Session) -> Iterator[None]:
    """While a turn runs, Ctrl-C stops the model or the code instead of killing loci."""

    def handler(signum: int, frame: FrameType | None) -> None:
        session.interrupt()

    old = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


def run_turn(session: Session, text: str, renderer: Renderer) -> TurnDone:
    done: TurnDone | None = None
    with ctrl_c_interrupts(session):
        try:
            for ev in session.run(text):
                renderer.handle(ev)
                if isinstance(ev, TurnDone):
                    done = ev
        finally:
            renderer.close()
    assert done is not None
    return done


def repl(session: Session, console: Console, renderer: Renderer) -> None:
    """The chat loop. Returns on %exit or Ctrl-D."""
    history = FileHistory(str(session.settings.home / "input_history"))
    prompt = PromptSession[str](history=history)
    banner = Text.assemble(
        ("loci", "bold"),
        " · model ",
        (clean(session.model.name), "cyan"),
        f" · {clean(str(session.settings.workdir))} · conversation {session.conversation_id}\n",
        ("%help for commands, Ctrl-C stops, Ctrl-D exits", "dim"),
    )
    console.print(banner)
    while True:
        try:
            text = prompt.prompt("> ")
        except KeyboardInterrupt:
            continue
        except EOFError:
            return
        if not text.strip():
            continue
        command = _command(text)
        if command is not None:
            if command(session, console, text.split()[1:]) == "exit":
                return
            continue
        try:
            run_turn(session, text, renderer)
        except LociError as exc:
            console.print(Text("error: ", style="red"), Text(clean(exc.message)), sep="")


Command = Callable[[Session, Console, list[str]], str | None]


def _command(text: str) -> Command | None:
    word = text.strip().split()[0]
    if word[:1] not in ("%", "/"):
        return None
    return COMMANDS.get(word[1:].lower())


def _help(session: Session, console: Console, args: list[str]) -> None:
    console.print(HELP, markup=False, highlight=False)


def _reset(session: Session, console: Console, args: list[str]) -> None:
    session.reset()
    console.print(f"new conversation {session.conversation_id}; kernels restarted")


def _undo(session: Session, console: Console, args: list[str]) -> None:
    removed = session.undo()
    console.print("nothing to undo" if not removed else "forgot your last request")


def _edit(session: Session, console: Console, args: list[str]) -> None:
    """``%edit``: the requests, numbered; ``%edit N``: edit one, go on from there (a branch)."""
    requests = session.store.get_conversation(session.conversation_id).requests
    texts = [prompts.request_of(r.content) for r in requests]
    if not args or not args[0].isdigit():
        for n, text in enumerate(texts, 1):
            first = text.strip().splitlines()[0] if text.strip() else ""
            console.print(f"{n:>3}  {clean(first[:90])}", markup=False, highlight=False)
        console.print("no requests yet" if not texts else "%edit N: edit one, go on from there")
        return
    n = int(args[0])
    if not 1 <= n <= len(texts):
        console.print(f"there is no request {n}; %edit lists them")
        return
    edited = edit_text(texts[n - 1], ".md").strip()
    if not edited:
        console.print("the edited request is empty: nothing changed")
        return
    parent = session.conversation_id
    session.branch(n)
    console.print(
        f"conversation {session.conversation_id}: a branch of {parent} from request {n}; "
        "kernels restarted",
        highlight=False,
    )
    try:
        run_turn(session, edited, Renderer(console))
    except LociError as exc:
        console.print(Text("error: ", style="red"), Text(clean(exc.message)), sep="")


def _tokens(session: Session, console: Console, args: list[str]) -> None:
    u = session.usage
    look = session.past(record=False)
    sent = session.prompt(session.messages, past=look)
    used = sum(message_tokens(m, session.model.count_tokens) for m in sent)
    window = session.model.context_window
    requests = sum(1 for m in session.messages if is_request(m))
    compacted = look.used if look and look.used else None
    how = "off (--no-compact: the oldest are dropped)" if look is None else "compacted"
    if compacted:
        how += f" ({'a summary the model wrote' if compacted.method == 'model' else 'a digest'})"
    console.print(
        f"this session: {u.prompt_tokens} tokens in, {u.completion_tokens} out\n"
        f"next call: ~{used} tokens of a {window}-token window "
        f"({input_budget(window)} for the prompt, the rest kept for the reply)\n"
        f"{compacted.turns if compacted else 0} of {requests} requests {how}"
    )


def _compact(session: Session, console: Console, args: list[str]) -> None:
    past = session.past()
    if past is None:
        console.print("compaction is off (--no-compact): the oldest turns are dropped instead")
        return
    session.cancel_event.clear()  # a stop of the last turn is no stop of this
    with ctrl_c_interrupts(session):  # the model may be writing a summary: Ctrl-C stops it
        made = compact_now(past, session.messages, input_budget(session.model.context_window))
    if made is None:
        stopped = session.cancel_event.is_set()
        console.print(
            "stopped: nothing was compacted"
            if stopped
            else "nothing to compact: only your last request is sent whole"
        )
        return
    for notice in session.compacted(past):
        console.print(Text(clean(notice.message)))


def _vars(session: Session, console: Console, args: list[str]) -> None:
    state = session.kernels.state
    text = state.summary() if state else "the Python kernel holds nothing loci has looked at yet"
    console.print(clean(text), markup=False, highlight=False)


def _model(session: Session, console: Console, args: list[str]) -> None:
    if not args:
        console.print(f"model: {session.model.name}")
        return
    from ..models.registry import get_model
    from .progress import InstallBar

    try:
        with InstallBar(console) as bar:
            model = get_model(session.settings.replace(model=args[0]), progress=bar)
        session.switch_model(model)
    except LociError as exc:
        console.print(Text("error: ", style="red"), Text(clean(exc.message)), sep="")
        return
    session.store.set_model(session.conversation_id, session.model.name)
    console.print(f"model: {session.model.name}")


def _auto(session: Session, console: Console, args: list[str]) -> None:
    session.auto_run = not session.auto_run
    state = "on: code runs without asking" if session.auto_run else "off: you approve each block"
    console.print(f"auto-run {state}")


def _effort(session: Session, console: Console, args: list[str]) -> None:
    if args:
        if not args[0].isdigit() or int(args[0]) < 1:
            console.print("effort: a whole number, at least 1 (1: one attempt per request)")
            return
        session.settings = session.settings.replace(effort=int(args[0]))
    n = session.settings.effort
    said = (
        "one attempt per request"
        if n == 1
        else f"up to {n} attempts at a request that runs code; the answer most agree on is kept"
    )
    console.print(f"effort {n}: {said}")


def _export(session: Session, console: Console, args: list[str]) -> None:
    fmt = args[0] if args and args[0] in ("md", "ipynb") else "ipynb"
    rest = args[1:] if args and args[0] in ("md", "ipynb") else args
    ext = ".md" if fmt == "md" else ".ipynb"
    path = (
        Path(rest[0]) if rest else session.settings.workdir / f"loci-{session.conversation_id}{ext}"
    )
    from ..export import export_ipynb, export_markdown

    record = session.store.get_conversation(session.conversation_id)
    text = export_markdown(record) if fmt == "md" else export_ipynb(record)
    path.write_text(text, encoding="utf-8")
    console.print(f"wrote {path}", highlight=False)


def _exit(session: Session, console: Console, args: list[str]) -> str:
    return "exit"


COMMANDS: dict[str, Command] = {
    "help": _help,
    "reset": _reset,
    "undo": _undo,
    "edit": _edit,
    "tokens": _tokens,
    "compact": _compact,
    "vars": _vars,
    "model": _model,
    "auto": _auto,
    "effort": _effort,
    "export": _export,
    "exit": _exit,
    "quit": _exit,
}
