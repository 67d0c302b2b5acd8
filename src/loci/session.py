"""The loop: ``Session.run(text) -> Iterator[Event]``.

One request (a turn) alternates model calls and code runs: the model streams text and code →
each block is approved (by the ``Approver`` passed in) → it runs in the conversation's
persistent kernel → its trimmed output goes back to the model → repeat until the model answers
without code, repeats itself, or the step cap is hit. Everything is written to the store as
it happens. The MCP servers' tools (``loci.mcp.tools``) are offered to the model and run
beside the kernels. ``interrupt()`` (Ctrl-C, a Stop button; safe from a signal handler or another
thread) stops whatever is running — the model stream or the code — and ends the turn with
status ``interrupted``; the conversation goes on. ``execute(language, code)`` runs one block
that another program's model wrote, the same way (``loci.direct``).
"""

from __future__ import annotations

import contextlib
import itertools
import sys
import threading
from collections.abc import Generator, Iterator, Sequence
from types import TracebackType

from . import answer_form, coaching, direct, instructions, intake, prompts, window
from .approval import ApprovalPolicy, Approver, code_hash
from .compaction import Past
from .config import Settings, load_settings
from .context import fold_fixed, format_result
from .errors import LociError
from .events import (
    CodeBlock,
    Event,
    ModelDone,
    Notice,
    TurnDone,
    TurnStart,
    TurnStatus,
    Usage,
)
from .execution import ExecutionRequest, ExecutionResult
from .gate import Gate
from .grounding import Evidence, ground
from .kernels.pool import KernelPool
from .mcp.tools import McpTools
from .messages import Message, ToolCall
from .models.base import Model, close_model
from .reply import stream_reply
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

    def _add(self, message: Message) -> int:
        self.messages.append(message)
        return self.store.add_message(self.conversation_id, message)

    def _note_fresh_kernels(self) -> None:
        """Tell the model of a conversation it takes up again (resume, a branch) that the
        kernels are new, unless that is already the last thing it was told."""
        if self.messages and self.messages[-1].content != prompts.RESUMED_NOTE:
            self._note(prompts.RESUMED_NOTE)

    def _note(self, text: str) -> None:
        """Add one of loci's notes to the conversation, for the model to read."""
        self._add(Message("user", text, origin="loci"))

    def _new_id(self) -> str:
        return f"call_{next(self._ids)}"

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
        self._add(got.message)
        turn = Turn(text, usage_before=self.usage, preview=got.preview, start=len(self.messages))
        turn.know_how = got.know_how
        status: TurnStatus | None = None
        message = ""
        try:
            while status is None:
                status = yield from self._step(turn)
        except LociError as exc:
            status, message = "error", exc.message
            yield Notice("error", exc.message)
        turn_usage = Usage(
            self.usage.prompt_tokens - turn.usage_before.prompt_tokens,
            self.usage.completion_tokens - turn.usage_before.completion_tokens,
        )
        yield TurnDone(status, turn_usage, turn.steps, self.conversation_id, message)

    def execute(self, language: str, code: str) -> Generator[Event, None, str]:
        """Run code written outside loci (an MCP client's model) as if loci's model had asked;
        returns the result text stored for it. See ``loci.direct``."""
        return direct.execute(self, language, code)

    def _step(self, turn: Turn) -> Generator[Event, None, TurnStatus | None]:
        """One model call and what follows from it; returns a status when the turn ends."""
        turn.steps += 1
        final = turn.steps > self.settings.max_steps
        just_asked = bool(turn.form_note) and self.messages[-1].content == turn.form_note
        if final and not just_asked:  # the form's note, just sent, says what to do
            self._note(coaching.FINAL_NOTE)
            if turn.prefill == coaching.CODE_PREFILL:  # a nudge for code comes too late now
                turn.prefill = ""
        reply = yield from self._model_step(turn)
        if reply is None:
            return "interrupted" if self._cancel.is_set() else "error"
        blocks = reply.tool_calls
        if not blocks:
            return (yield from self._answer(turn, reply.content, final))
        if final:
            for call in blocks:  # settled, not left unanswered
                self._add(Message("tool", coaching.NOT_RUN_NOTE, tool_call_id=call.id))
            if (yield from self._ask_form(turn, reply.content)):  # one last call for it
                return None
            yield Notice("warning", f"stopped after {self.settings.max_steps} code rounds")
            return "max_steps"
        if all(code_hash(c.code) in turn.run_codes for c in blocks):
            turn.repeats += 1
            if turn.repeats > coaching.MAX_REPEATS:
                yield Notice("warning", "the model repeated code it already ran; stopping")
                return "repeated"
            for call in blocks:  # the first time: say so instead of running it again
                self._add(Message("tool", coaching.repeat_note(turn), tool_call_id=call.id))
            return None
        turn.run_codes.update(code_hash(c.code) for c in blocks)
        return (yield from self._run_calls(turn, blocks))

    def _answer(
        self, turn: Turn, text: str, final: bool
    ) -> Generator[Event, None, TurnStatus | None]:
        """A reply without code: the turn's answer, unless no output backs it yet."""
        evidence = Evidence(turn.evidence, turn.literals, turn.preview)
        grounding = ground(text, evidence, turn.text)
        note = None if final else coaching.unbacked_note(turn, text, grounding)
        if note is not None:
            turn.nudges += 1
            yield Notice("info", "the answer is backed by no output; asking for code")
            self._note(note)
            turn.prefill = coaching.CODE_PREFILL  # where the model allows, start with code
            return None
        if (yield from self._ask_form(turn, text)):
            return None
        if grounding.supported or grounding.unsupported:
            if turn.reply_id is not None:  # kept with the answer: reloads still show it
                self.store.set_grounding(turn.reply_id, grounding)
            yield grounding
        return "done"

    def _ask_form(self, turn: Turn, answer: str) -> Generator[Event, None, bool]:
        """Send the model back, once a turn, for an answer in the ``@field[value]`` form its
        request asks for, when ``answer`` lacks fields; True if it was sent back."""
        ask = answer_form.ask_again(turn.text, answer, bool(turn.form_note))
        if ask is None:
            return False
        turn.form_note = ask.note
        yield Notice("info", "the answer lacks " + ", ".join(f"@{n}" for n in ask.missing))
        self._note(ask.note)
        turn.prefill = ask.prefill
        return True

    def prompt(
        self, history: Sequence[Message], know_how: Sequence[str] = (), past: Past | None = None
    ) -> list[Message]:
        """What a model call is sent now for ``history`` (``loci.window``)."""
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

    def _model_step(self, turn: Turn) -> Generator[Event, None, Message | None]:
        """One model call. Returns the reply, or None if it failed or was stopped."""
        yield from self.tools.news()
        past = self.past()
        sent = self.prompt(
            fold_fixed(self.messages, turn.start, turn.failed_calls, turn.ok_calls),
            turn.know_how,
            past,
        )
        yield from self.compacted(past)
        reply = yield from stream_reply(
            self.model,
            sent,
            self._cancel,
            self.kernels.language_of,
            self._new_id,
            turn.prefill,
            self.tools.specs(),
        )
        turn.prefill = ""
        self.count_usage(reply.usage)
        kept = reply.calls if self.model.supports_tools else ()  # fenced code stays in the text
        stored = Message("assistant", reply.text, kept)
        turn.reply_id = self._add(stored) if reply.text or reply.calls else None
        yield ModelDone(reply.text, reply.usage, stopped=reply.stopped)
        return None if reply.stopped else Message("assistant", reply.text, reply.calls)

    def _run_calls(
        self, turn: Turn, calls: tuple[ToolCall, ...]
    ) -> Generator[Event, None, TurnStatus | None]:
        """Approve and run each call; feed results back. Returns a status to stop with."""
        for call in calls:
            result = yield from self._run_call(turn, call)
            images = turn.images.pop(call.id, ())
            self._add(Message("tool", result, tool_call_id=call.id, images=images))
            if self._cancel.is_set():
                return "interrupted"
        return None

    def _run_call(self, turn: Turn, call: ToolCall) -> Generator[Event, None, str]:
        """Show, approve and run one call; return what the model reads back."""
        language = self.kernels.language_of(call.language) or call.language
        block = CodeBlock(call.id, language, call.code, code_hash(call.code))
        request = yield from self.gate.admit(self.conversation_id, block)
        if isinstance(request, str):
            return request
        result = yield from self._execute(request)
        module = coaching.missing_module(result.done)
        if module and not self._cancel.is_set():
            installed = yield from self._offer_install(module)
            if installed:
                result = yield from self._execute(request)
        turn.record(call.id, request, result, coaching.failure(result.done))
        return format_result(result.outputs, result.done)

    def _execute(self, request: ExecutionRequest) -> Generator[Event, None, ExecutionResult]:
        if self.tools.runs(request.language):  # a model's call to an MCP tool
            return (yield from self.tools.execute(request, self.store))
        kernel = self.kernels.get(request.language)
        result = yield from self.tools.run_block(kernel, self.store, request)
        self.kernels.look(kernel)  # what the model is told the kernel holds (prompts)
        return result

    def _offer_install(self, module: str) -> Generator[Event, None, bool]:
        """Propose ``pip install`` into the kernel's environment, approved like any code."""
        python = self.kernels.python or sys.executable  # the kernel's venv when sandboxed
        package, code = coaching.pip_install(python, module)
        yield Notice("info", f"{module} is not installed; proposing to install {package}")
        block = CodeBlock(f"pip_{next(self._ids)}", "shell", code, code_hash(code))
        request = yield from self.gate.admit(self.conversation_id, block, audit=False)
        if isinstance(request, str):
            return False
        result = yield from self._execute(request)
        return result.done.status == "ok"


__all__ = ["Session"]
