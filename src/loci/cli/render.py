"""Rendering session events in a terminal with rich — the only place that draws.

``Renderer(console).handle(event)`` for every event of a turn; each passes
``loci.sanitize`` first, so no control sequence from code, a model or a file name reaches
the terminal (colour is kept). On a terminal the model's reply
streams as live Markdown (highlighted code included); without one (a pipe, a file) everything
is plain text written as it arrives.
"""

from __future__ import annotations

from rich.console import Console
from rich.live import Live
from rich.markdown import Markdown
from rich.syntax import Syntax
from rich.text import Text

from ..events import (
    Approval,
    CodeBlock,
    Event,
    ExecutionDone,
    ExecutionStart,
    Grounding,
    InputRequest,
    ModelDone,
    Notice,
    Output,
    TextDelta,
    TurnDone,
    TurnStart,
    Vote,
)
from ..grounding import unbacked_warning
from ..sanitize import clean_event

_LEXER = {"python": "python", "shell": "bash", "mcp": "python"}  # an MCP call: Python in form
_STATUS_STYLE = {
    "ok": "green",
    "error": "red",
    "interrupted": "yellow",
    "timeout": "yellow",
    "crashed": "red",
    "denied": "yellow",
    "skipped": "dim",
}


class Renderer:
    def __init__(self, console: Console, *, show_usage: bool = False) -> None:
        self.console = console
        self.rich = console.is_terminal
        self.show_usage = show_usage
        self._text = ""
        self._live: Live | None = None
        self._shown_text = ""  # the last finished reply, to tell if a code block was in it

    # -- model text -----------------------------------------------------------------------
    def _delta(self, ev: TextDelta) -> None:
        self._text += ev.text
        if not self.rich:
            self.console.file.write(ev.text)
            self.console.file.flush()
            return
        if self._live is None:
            self._live = Live(
                console=self.console,
                auto_refresh=False,
                transient=True,
                vertical_overflow="crop",
            )
            self._live.start()
        self._live.update(Markdown(self._text), refresh=True)

    def _model_done(self, ev: ModelDone) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
        if self.rich and self._text.strip():
            self.console.print(Markdown(self._text))
        elif not self.rich and self._text and not self._text.endswith("\n"):
            self.console.file.write("\n")
        if ev.stopped:
            self.console.print(Text("[reply stopped]", style="yellow"))
        self._shown_text, self._text = self._text, ""

    # -- code and outputs -------------------------------------------------------------------
    def _code(self, ev: CodeBlock) -> None:
        if ev.code.strip() and ev.code.strip() in self._shown_text:
            return  # already on screen inside the streamed reply
        if self.rich:
            lexer = _LEXER.get(ev.language, ev.language)
            self.console.print(Syntax(ev.code, lexer, theme="ansi_dark", word_wrap=True))
        else:
            self.console.file.write(f"```{ev.language}\n{ev.code}\n```\n")

    def _output(self, ev: Output) -> None:
        if ev.stream == "stdin":  # a read answered here is on screen already, as typed
            if ev.text:
                self.console.print(Text(ev.data.rstrip("\n"), style="yellow" if self.rich else ""))
            return
        if ev.stream in ("stdout", "stderr"):
            style = "red" if ev.stream == "stderr" and self.rich else None
            if style:
                self.console.print(Text(ev.data, style=style), end="")
            else:
                self.console.file.write(ev.data)
                self.console.file.flush()
            return
        if ev.mime.startswith("image/"):
            where = ev.path or "(not saved)"
            self.console.print(Text(f"[image: {where}]", style="cyan"))
            return
        text = ev.text or (ev.data if ev.mime.startswith("text/") else f"[{ev.mime}]")
        if ev.stream == "error":
            self.console.print(Text(ev.data or text, style="red"))
        elif ev.stream == "result":
            self.console.print(Text("Out: ", style="dim"), Text(text), sep="")
        else:
            self.console.print(Text(text))

    def _done(self, ev: ExecutionDone) -> None:
        style = _STATUS_STYLE.get(ev.status, "")
        parts = [f"{ev.status} in {ev.duration:.2f}s"]
        if ev.exit_code not in (None, 0):
            parts.append(f"exit status {ev.exit_code}")
        if ev.message:
            parts.append(ev.message)
        line = Text("── " + "; ".join(parts), style=style if self.rich else "")
        self.console.print(line)
        for path in ev.files[:10]:
            self.console.print(Text(f"   file: {path}", style="cyan" if self.rich else ""))
        if len(ev.files) > 10:
            self.console.print(f"   … and {len(ev.files) - 10} more files")

    # -- the rest -----------------------------------------------------------------------------
    def _notice(self, ev: Notice) -> None:
        style = {"info": "cyan", "warning": "yellow", "error": "bold red"}[ev.level]
        self.console.print(Text(f"{ev.level}: {ev.message}", style=style if self.rich else ""))

    def _grounding(self, ev: Grounding) -> None:
        if msg := unbacked_warning(ev):
            self.console.print(Text(msg, style="yellow" if self.rich else ""))

    def _vote(self, ev: Vote) -> None:
        self.console.print(Text(ev.summary, style="cyan" if self.rich else ""))
        if not ev.again:
            return  # the kept answer is the last one on screen
        if self.rich:
            self.console.print(Markdown(ev.answer))
        else:
            self.console.file.write(ev.answer.rstrip("\n") + "\n")

    def _turn_done(self, ev: TurnDone) -> None:
        if self.show_usage:
            u = ev.usage
            self.console.print(
                Text(
                    f"[{ev.status}; {ev.steps} steps; tokens in {u.prompt_tokens}, "
                    f"out {u.completion_tokens}]",
                    style="dim" if self.rich else "",
                )
            )

    def handle(self, ev: Event) -> None:
        ev = clean_event(ev)  # every text field through the one sanitiser, before drawing
        if isinstance(ev, TextDelta):
            self._delta(ev)
        elif isinstance(ev, ModelDone):
            self._model_done(ev)
        elif isinstance(ev, CodeBlock):
            self._code(ev)
        elif isinstance(ev, Output):
            self._output(ev)
        elif isinstance(ev, ExecutionDone):
            self._done(ev)
        elif isinstance(ev, Notice):
            self._notice(ev)
        elif isinstance(ev, Grounding):
            self._grounding(ev)
        elif isinstance(ev, Vote):
            self._vote(ev)
        elif isinstance(ev, TurnDone):
            self._turn_done(ev)
        elif isinstance(ev, Approval):
            if not ev.approved:
                why = f": {ev.reason}" if ev.reason else ""
                self.console.print(Text(f"not run{why}", style="yellow" if self.rich else ""))
        elif isinstance(ev, (TurnStart, ExecutionStart, InputRequest)):
            pass  # an InputRequest's prompt is shown by the one who answers it

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
