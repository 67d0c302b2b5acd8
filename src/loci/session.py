"""The loop: ``Session.run(text) -> Iterator[Event]``.

One request (a turn) alternates model calls and code runs: the model streams text and code →
each block is approved (by the ``Approver`` passed in) → it runs in the conversation's
persistent kernel → its trimmed output goes back to the model → repeat until the model answers
without code, repeats itself, or the step cap is hit (each step: ``loci.steps``). With
``effort`` above 1 a request that ran code is attempted again and the answer most attempts
agree on is kept (``loci.vote``). Everything
is written to the store as it happens. The MCP servers' tools (``loci.mcp.tools``) are offered
to the model and run beside the kernels. ``interrupt()`` (Ctrl-C, a Stop button; safe from a
signal handler or another thread) stops whatever is running — the model stream or the code —
and ends the turn with status ``interrupted``; the conversation goes on.
``execute(language, code)`` runs one block that another program's model wrote, the same way
(``loci.direct``).
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import Generator, Iterator, Sequence
from types import TracebackType

from . import direct, instructions, intake, prompts, steps, vote, window
from .approval import ApprovalPolicy, Approver
from .compaction import Past
from .config import Settings, load_settings
from .errors import LociError
from .events import (
    Event,
    Notice,
    TurnDone,
    TurnStart,
    TurnStatus,
    Usage,
)
from .gate import Gate
from .kernels.pool import KernelPool
from .mcp.tools import McpTools
from .messages import Message
from .models.base import Model, close_model
from .stdin import InputProvider, no_input
from .store import Store, title_of
from .turn import Turn


class Session:
    """A conversation with a model and its kernels. Use as a context manager."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        model: Model | None = None,
        store: Store | None = None,
        kernels: KernelPool | None = None,
        approver: Approver | None = None,
        conversation_id: int | None = None,
        stdin: InputProvider = no_input,
    ) -> None:
        self.settings = settings or load_settings()
        if model is None:
            from .models.registry import get_model

            model = get_model(self.settings)
        self.model = model
        self.store = store or Store(self.settings.db_path)
        self.settings.workdir.mkdir(parents=True, exist_ok=True)
        self.kernels = kernels or KernelPool.from_settings(self.settings)
        self.policy = ApprovalPolicy(
            approver,
            auto_run=self.settings.auto_run,
            workspace=self.settings.workdir,
            exposed=self.settings.expose,
        )
        self._cancel = threading.Event()
        self._ids = itertools.count(1)
        self.instructions = (
            instructions.load(self.settings.workdir) if self.settings.agents_md else None
        )
        self.instructions_shown = False  # a front end that said so at start-up sets this
        self.usage = Usage()
        self.messages: list[Message] = []
        if conversation_id is None:
            self.conversation_id = self._new_conversation()
        else:
            self.conversation_id = conversation_id
            self.messages = self.store.messages(conversation_id)
            self._note_fresh_kernels()
            self._record_instructions()
        self.tools = McpTools.from_settings(self.settings, self.kernels)  # before a kernel starts
        self.gate = Gate(
            self.policy, self.store, self.kernels, self.tools, self.settings, stdin, self._cancel
        )
        self.kernels.prestart("python")

    # -- lifetime -----------------------------------------------------------------------
    def __enter__(self) -> Session:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        with contextlib.ExitStack() as later:  # each is released even if one before it fails
            later.callback(close_model, self.model)
            later.callback(self.store.close)
            later.callback(self.tools.close)
            self.kernels.shutdown_all()

    def switch_model(self, model: Model) -> None:
        """Use ``model`` from the next request on. The session owns its model, so the one it
        replaces is closed (its connections, or the memory of a loaded GGUF, are freed)."""
        old, self.model = self.model, model
        if old is not model:
            close_model(old)

    def interrupt(self) -> None:
        """Stop the model stream or the running code. Signal- and thread-safe."""
        self._cancel.set()

    def reset(self) -> None:
        """Start a new conversation with fresh kernels."""
        self.kernels.shutdown_all()
        self.messages = []
        self.conversation_id = self._new_conversation()
        self.kernels.prestart("python")

    def branch(self, request: int) -> int:
        """Go back to just before the person's request number ``request`` (from 1): go on in
        a new conversation holding what came before it (``Store.branch``; this one stays),
        with fresh kernels and the model told so, as on resume. Returns the branch's id."""
        branch = self.store.branch(self.conversation_id, request)
        self.kernels.shutdown_all()
        self.conversation_id, self.messages = branch, self.store.messages(branch)
        self._note_fresh_kernels()
        self.kernels.prestart("python")
        return branch

    def undo(self) -> int:
        """Forget the person's last request and everything after it."""
        removed = self.store.truncate_from_last_request(self.conversation_id)
        self.messages = self.store.messages(self.conversation_id)
        return removed

    @property
    def auto_run(self) -> bool:
        return self.policy.auto_run

    @auto_run.setter
    def auto_run(self, value: bool) -> None:
        self.policy.auto_run = value

    def _new_conversation(self) -> int:
        conv_id = self.store.create_conversation(
            model=self.model.name, workdir=str(self.settings.workdir)
        )
        self.conversation_id = conv_id
        self._record_instructions()
        return conv_id

    def _record_instructions(self) -> None:
        if self.instructions is not None:
            given = self.instructions
            self.store.set_instructions(self.conversation_id, given.text, given.source)

    def add(self, message: Message) -> int:
        """Add ``message`` to the conversation and the store; returns its stored id."""
        self.messages.append(message)
        return self.store.add_message(self.conversation_id, message)

    def _note_fresh_kernels(self) -> None:
        """Tell the model of a conversation it takes up again (resume, a branch) that the
        kernels are new, unless that is already the last thing it was told."""
        if self.messages and self.messages[-1].content != prompts.RESUMED_NOTE:
            self.note(prompts.RESUMED_NOTE)

    def note(self, text: str) -> None:
        """Add one of loci's notes to the conversation, for the model to read."""
        self.add(Message("user", text, origin="loci"))

    def new_id(self, kind: str = "call") -> str:
        """A fresh id for a tool call (``kind`` "pip" for a proposed install, "fix" for a block
        with its column names fixed)."""
        return f"{kind}_{next(self._ids)}"

    # -- the loop -----------------------------------------------------------------------
    def run(self, text: str) -> Iterator[Event]:
        """Handle one request; yields events, ending with exactly one TurnDone."""
        self._cancel.clear()
        if not self.messages:
            self.store.set_title(self.conversation_id, title_of(text))
        yield TurnStart(self.conversation_id, text)
        if self.instructions is not None and not self.instructions_shown:
            self.instructions_shown = True
            yield Notice(self.instructions.level, self.instructions.note())
        got = intake.take(text, self.settings, self.kernels)
        yield from got.notices
        self.add(got.message)
        turn = Turn(
            text,
            usage_before=self.usage,
            preview=got.preview,
            know_how=got.know_how,
            start=len(self.messages),
        )
        status, message = yield from self.attempt(turn)
        taken = turn.steps
        if self.settings.effort > 1 and vote.worth_more(turn, status):
            status, message, taken = yield from vote.more(self, turn, status, message)
        turn_usage = Usage(
            self.usage.prompt_tokens - turn.usage_before.prompt_tokens,
            self.usage.completion_tokens - turn.usage_before.completion_tokens,
        )
        yield TurnDone(status, turn_usage, taken, self.conversation_id, message)

    def attempt(self, turn: Turn) -> Generator[Event, None, tuple[TurnStatus, str]]:
        """Step ``turn`` until it ends; returns its status and, for an error, the message."""
        status: TurnStatus | None = None
        try:
            while status is None:
                status = yield from steps.step(self, turn)
        except LociError as exc:
            yield Notice("error", exc.message)
            return "error", exc.message
        return status, ""

    def execute(self, language: str, code: str) -> Generator[Event, None, str]:
        """Run code written outside loci (an MCP client's model) as if loci's model had asked;
        returns the result text stored for it. See ``loci.direct``."""
        return direct.execute(self, language, code)

    def prompt(
        self, history: Sequence[Message], know_how: Sequence[str] = (), *, past: Past | None
    ) -> list[Message]:
        """What a model call is sent now for ``history``, older turns compacted from ``past``
        (``self.past()``; None: not compacted) (``loci.window``)."""
        return window.prompt(self, history, know_how, past)

    def past(self, record: bool = True) -> Past | None:
        """Where older turns are compacted from, or None (``loci.window``)."""
        return window.past_of(self, record)

    def compacted(self, past: Past | None) -> Iterator[Notice]:
        """The notices of a compaction ``past`` made (``loci.window``)."""
        return window.compacted(self, past)

    @property
    def cancel_event(self) -> threading.Event:
        """Set by ``interrupt``: what a model call or a block stops on."""
        return self._cancel

    def count_usage(self, usage: Usage) -> None:
        """Add a model call's tokens to the session's and the conversation's usage."""
        self.usage = self.usage + usage
        self.store.add_usage(self.conversation_id, usage)


__all__ = ["Session"]
