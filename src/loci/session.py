"""The loop: ``Session.run(text) -> Iterator[Event]``.

One request (a turn) alternates model calls and code runs: the model streams text and code →
each block is approved (by the ``Approver`` passed in) → it runs in the conversation's
persistent kernel → its trimmed output goes back to the model → repeat until the model answers
without code, repeats itself, or the step cap is hit. Everything is written to the store as
it happens. ``interrupt()`` (Ctrl-C, a Stop button; safe from a signal handler or another
thread) stops whatever is running — the model stream or the code — and ends the turn with
status ``interrupted``; the conversation goes on.
"""

from __future__ import annotations

import ast
import contextlib
import itertools
import platform
import re
import shlex
import sys
import threading
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import cast

from . import prompts
from .approval import ApprovalPolicy, Approver, code_hash
from .config import Settings, load_settings
from .context import fit_history, format_result
from .errors import LociError, ModelError
from .events import (
    Approval,
    CodeBlock,
    Event,
    ExecutionDone,
    Grounding,
    ModelDone,
    Notice,
    Output,
    TextDelta,
    TurnDone,
    TurnStart,
    TurnStatus,
    Usage,
)
from .execution import run_block
from .files import describe_files, mentioned_files
from .grounding import ground, numbers
from .kernels.pool import KernelPool, normalize_language
from .messages import Message, ToolCall
from .models.base import (
    Model,
    ModelChunk,
    PrefillModel,
    TextChunk,
    ToolCallChunk,
    UsageChunk,
    close_model,
)
from .models.convert import orphan_results_to_user
from .parsing import Fenced, FenceParser, looping_tail
from .store import Store

RESUMED_NOTE = (
    "(This conversation was resumed: the code session was restarted, so variables, imports "
    "and open files from before are gone. Re-run what you need.)"
)
VERIFY_NOTE = (
    "No code has run yet, so that answer is not backed by any output. "
    "Write a code block that computes it."
)
REPEAT_NOTE = (
    "[not run: this exact code already ran in this request; its output is above. "
    "Change the code, or give the final answer.]"
)
SILENT_NOTE = (
    "The code printed nothing, so that answer is not backed by any output. print() the result."
)
FIX_NOTE = (
    "The last code failed, so that answer is not backed by any output. "
    "Fix the error and run the code again."
)
PREVIEW_NOTE = "(loci: a look at the files mentioned above)"
FINAL_NOTE = "Step limit reached. Answer now from the outputs above, without code."
# import name -> PyPI name, for the ModuleNotFoundError install proposal
PIP_NAMES = {
    "sklearn": "scikit-learn",
    "cv2": "opencv-python",
    "PIL": "pillow",
    "yaml": "pyyaml",
    "bs4": "beautifulsoup4",
    "dateutil": "python-dateutil",
    "skimage": "scikit-image",
}
_MISSING = re.compile(r"No module named '([A-Za-z0-9_]+)")


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
        self.usage = Usage()
        self._turn = _Turn("")  # the request being handled
        self.messages: list[Message] = []
        if conversation_id is None:
            self.conversation_id = self._new_conversation()
        else:
            self.conversation_id = conversation_id
            self.messages = self.store.messages(conversation_id)
            if self.messages:
                self.messages.append(Message("user", RESUMED_NOTE))
                self.store.add_message(conversation_id, self.messages[-1])
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

    def undo(self) -> int:
        """Forget the last request and everything after it."""
        removed = 0
        notes = (RESUMED_NOTE, FINAL_NOTE, VERIFY_NOTE, FIX_NOTE, SILENT_NOTE)
        while users := [m for m in self.store.messages(self.conversation_id) if m.role == "user"]:
            removed += self.store.truncate_from_last_user_message(self.conversation_id)
            if users[-1].content not in notes:
                break  # that was the request itself, not a note loci added to its turn
        self.messages = self.store.messages(self.conversation_id)
        return removed

    def _new_conversation(self) -> int:
        return self.store.create_conversation(
            model=self.model.name, workdir=str(self.settings.workdir)
        )

    # -- the loop -----------------------------------------------------------------------
    def run(self, text: str) -> Iterator[Event]:
        """Handle one request; yields events, ending with exactly one TurnDone."""
        self._cancel.clear()
        if not self.messages:
            self.store.set_title(self.conversation_id, text.strip().splitlines()[0][:80])
        yield TurnStart(self.conversation_id, text)
        named = mentioned_files(text, self.settings.workdir, also=self.settings.started_in)
        blocked = {p: why for p, why in self.kernels.reveal(named).items() if why}
        for path, why in blocked.items():
            yield Notice("warning", f"{path}: the code cannot open this file: {why}")
        preview = describe_files(named, blocked)
        self._add(Message("user", f"{text}\n\n{PREVIEW_NOTE}\n{preview}" if preview else text))
        usage_before = self.usage
        turn = _Turn(text, about_files=bool(preview))
        self._turn = turn
        status: TurnStatus | None = None
        message = ""
        try:
            while status is None:
                status = yield from self._step(turn)
        except LociError as exc:
            status, message = "error", exc.message
            yield Notice("error", exc.message)
        turn_usage = Usage(
            self.usage.prompt_tokens - usage_before.prompt_tokens,
            self.usage.completion_tokens - usage_before.completion_tokens,
        )
        yield TurnDone(status, turn_usage, turn.steps, self.conversation_id, message)

    def _step(self, turn: _Turn) -> Generator[Event, None, TurnStatus | None]:
        """One model call and what follows from it; returns a status when the turn ends."""
        turn.steps += 1
        final = turn.steps > self.settings.max_steps
        if final:
            self._add(Message("user", FINAL_NOTE))
        reply = yield from self._model_step(turn.prefill)
        turn.prefill = ""
        if reply is None:
            return "interrupted" if self._cancel.is_set() else "error"
        blocks = reply.tool_calls
        if not blocks:
            grounding = ground(reply.content, turn.evidence, turn.text)
            note = None if final else _unbacked_note(turn, reply.content, grounding)
            if note is not None:
                turn.nudges += 1
                yield Notice("info", "the answer is backed by no output; asking for code")
                self._add(Message("user", note))
                turn.prefill = "```python\n"  # where the model allows, start its reply with code
                return None
            if grounding.supported or grounding.unsupported:
                if turn.reply_id is not None:  # kept with the answer: reloads still show it
                    self.store.set_grounding(turn.reply_id, grounding)
                yield grounding
            return "done"
        if final:
            yield Notice("warning", f"stopped after {self.settings.max_steps} code rounds")
            return "max_steps"
        if all(code_hash(c.code) in turn.run_codes for c in blocks):
            turn.repeats += 1
            if turn.repeats > 1:
                yield Notice("warning", "the model repeated code it already ran; stopping")
                return "repeated"
            for call in blocks:  # the first time: say so instead of running it again
                self._add(Message("tool", REPEAT_NOTE, tool_call_id=call.id))
            return None
        turn.run_codes.update(code_hash(c.code) for c in blocks)
        return (yield from self._run_calls(blocks))

    def _add(self, message: Message) -> int:
        self.messages.append(message)
        return self.store.add_message(self.conversation_id, message)

    def _system_prompt(self) -> Message:
        name = "tools" if self.model.supports_tools else "system"
        text = prompts.load(name, workdir=str(self.settings.workdir))
        others = self.kernels.gateway_languages()
        if others and self.model.supports_tools:
            text += f"\nThe execute tool also takes language: {', '.join(others)}."
        elif others:
            fences = ", ".join(f"```{lang}" for lang in others)
            text += f"\nThe kernel gateway also runs {fences} blocks."
        return Message(
            "system", text + f"\nSystem: {platform.system()}, Python {sys.version.split()[0]}."
        )

    def _model_messages(self) -> list[Message]:
        window = self.model.context_window
        budget = window - min(1024, window // 4)
        history = fit_history(
            [self._system_prompt(), *self.messages], self.model.count_tokens, budget
        )
        return orphan_results_to_user(history) if self.model.supports_tools else history

    def _open_stream(self, prefill: str) -> Iterator[ModelChunk]:
        messages = self._model_messages()
        if prefill and getattr(self.model, "supports_prefill", False):
            model = cast(PrefillModel, self.model)
            return model.stream(messages, cancel=self._cancel, prefill=prefill)
        return self.model.stream(messages, cancel=self._cancel)

    def _model_step(self, prefill: str = "") -> Generator[Event, None, Message | None]:
        """One model call. Returns the stored assistant message, or None if it failed."""
        parser = FenceParser()
        text = ""
        calls: list[ToolCall] = []
        usage = Usage()
        stopped = False
        chunks: Iterator[ModelChunk] | None = None
        try:
            chunks = self._open_stream(prefill)
            for chunk in chunks:
                if isinstance(chunk, TextChunk):
                    text += chunk.text
                    yield TextDelta(chunk.text)
                    if not self.model.supports_tools and self._runnable(parser.feed(chunk.text)):
                        break  # run the first block before the model invents its output
                    if len(text) // 64 != (len(text) - len(chunk.text)) // 64 and looping_tail(
                        text
                    ):
                        yield Notice("warning", "the model kept repeating itself; stopped it")
                        break
                elif isinstance(chunk, ToolCallChunk):
                    calls.append(chunk.call)
                elif isinstance(chunk, UsageChunk):
                    usage = chunk.usage
        except ModelError as exc:
            yield Notice("error", exc.message)
            stopped = True
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()  # stops generation and closes the network stream
        stopped = stopped or self._cancel.is_set()
        if usage.total_tokens == 0:
            usage = Usage(0, self.model.count_tokens(text))
        self.usage = self.usage + usage
        self.store.add_usage(self.conversation_id, usage)
        if not calls and not self._cancel.is_set():
            calls = self._fenced_calls(parser)
        if calls and not self.model.supports_tools:
            text = _cut_after_last_fence(text, self.kernels.language_of)
        reply = Message("assistant", text, tuple(calls) if self.model.supports_tools else ())
        self._turn.reply_id = self._add(reply) if text or calls else None
        yield ModelDone(text, usage, stopped=stopped)
        if stopped:
            return None
        return Message("assistant", text, tuple(calls))

    def _runnable(self, blocks: Sequence[Fenced]) -> bool:
        return any(_block_language(b, self.kernels.language_of) for b in blocks)

    def _fenced_calls(self, parser: FenceParser) -> list[ToolCall]:
        parser.finish()
        calls = []
        for block in parser.blocks:
            language = _block_language(block, self.kernels.language_of)
            if language and block.code.strip():
                calls.append(ToolCall(f"call_{next(self._ids)}", language, block.code))
                break  # one block per step: its output may change what comes next
        return calls

    def _run_calls(self, calls: tuple[ToolCall, ...]) -> Generator[Event, None, TurnStatus | None]:
        """Approve and run each call; feed results back. Returns a status to stop with."""
        for call in calls:
            result = yield from self._run_call(call)
            self._add(Message("tool", result, tool_call_id=call.id))
            if self._cancel.is_set():
                return "interrupted"
        return None

    @property
    def auto_run(self) -> bool:
        return self.policy.auto_run

    @auto_run.setter
    def auto_run(self, value: bool) -> None:
        self.policy.auto_run = value

    def _run_call(self, call: ToolCall) -> Generator[Event, None, str]:
        language = self.kernels.language_of(call.language) or call.language
        block = CodeBlock(call.id, language, call.code, code_hash(call.code))
        yield block
        decision = self.policy.decide(block)
        code = decision.code or block.code
        yield Approval(block.id, decision.approved, decision.by, code, decision.reason)
        if not decision.approved:
            reason = decision.reason or "the user said no"
            self.store.record_refusal(
                self.conversation_id,
                block_id=block.id,
                language=language,
                code=code,
                approved_by=decision.by,
                reason=reason,
                risk=decision.risk,
                sandbox=self.kernels.location,
            )
            return f"[not run: {reason}]"
        if self.kernels.language_of(language) is None:
            known = ", ".join(["python", "shell", *self.kernels.gateway_languages()])
            return f"[not run: {language!r} is not a language loci can run; use {known}]"
        outputs: list[Output] = []
        done = yield from self._execute(block.id, language, code, decision.by, outputs)
        missing = (
            _MISSING.search(done.error_value) if done.error_name == "ModuleNotFoundError" else None
        )
        if missing and not self._cancel.is_set():
            installed = yield from self._offer_install(missing.group(1))
            if installed:
                outputs = []
                done = yield from self._execute(block.id, language, code, decision.by, outputs)
        self._turn.evidence.extend(o.text or o.data for o in outputs if o.stream != "error")
        self._turn.last_failed = done.status in ("error", "timeout", "crashed")
        self._turn.executions += 1
        return format_result(outputs, done)

    def _execute(
        self, block_id: str, language: str, code: str, by: str, outputs: list[Output]
    ) -> Generator[Event, None, ExecutionDone]:
        kernel = self.kernels.get(language)
        done: ExecutionDone | None = None
        for ev in run_block(
            kernel,
            self.store,
            conversation_id=self.conversation_id,
            block_id=block_id,
            language=language,
            code=code,
            approved_by=by,
            timeout=self.settings.timeout,
            cancel=self._cancel,
            outputs=outputs,
            location=self.kernels.location,
            skip=self.settings.home,
            redact=self.kernels.redactor,
        ):
            if isinstance(ev, ExecutionDone):
                done = ev
            yield ev
        assert done is not None
        return done

    def _offer_install(self, module: str) -> Generator[Event, None, bool]:
        """Propose ``pip install`` into the kernel's environment, approved like any code."""
        package = PIP_NAMES.get(module, module)
        python = self.kernels.python or sys.executable  # the kernel's venv when sandboxed
        code = f"{shlex.quote(python)} -m pip install {shlex.quote(package)}"
        yield Notice("info", f"{module} is not installed; proposing to install {package}")
        block = CodeBlock(f"pip_{next(self._ids)}", "shell", code, code_hash(code))
        yield block
        decision = self.policy.decide(block)
        yield Approval(
            block.id, decision.approved, decision.by, decision.code or code, decision.reason
        )
        if not decision.approved:
            return False
        outputs: list[Output] = []
        done = yield from self._execute(
            block.id, "shell", decision.code or code, decision.by, outputs
        )
        return done.status == "ok"


@dataclass
class _Turn:
    """What one request has done so far."""

    text: str
    steps: int = 0
    run_codes: set[str] = field(default_factory=set)
    evidence: list[str] = field(default_factory=list)  # what its executions printed
    nudges: int = 0  # times the model was sent back to back its answer with code
    last_failed: bool = False  # the last execution ended in an error, timeout or crash
    executions: int = 0
    repeats: int = 0
    prefill: str = ""  # how the next reply must begin
    about_files: bool = False  # the request names files in the workspace
    reply_id: int | None = None  # the stored id of the model's latest reply


def _unbacked_note(turn: _Turn, reply: str, grounding: Grounding) -> str | None:
    """What to tell a model whose final answer no output backs (at most twice a request).
    A question with figures answered with a figure counts as computed, even when the figure
    is small or restates the question: small models answer those from memory."""
    if turn.nudges >= 2:
        return None
    if turn.last_failed and (grounding.unsupported or not turn.evidence):
        return FIX_NOTE
    if turn.evidence:
        return None
    figured = bool(grounding.unsupported) or bool(numbers(reply) and numbers(turn.text))
    if turn.executions:
        return SILENT_NOTE if figured else None  # code ran but printed nothing
    if figured or turn.about_files:
        return None if turn.nudges else VERIFY_NOTE  # from memory, or about an unread file
    return None


def _block_language(
    block: Fenced, resolve: Callable[[str | None], str | None] = normalize_language
) -> str | None:
    """The kernel a fenced block runs in, or None for a block that is not code to run.
    Small models often fence plain text (their answer, an echoed output) without a tag, so an
    untagged block counts as Python only when it parses as Python."""
    if block.language:
        return resolve(block.language)
    try:
        ast.parse(block.code)
    except (SyntaxError, ValueError):
        return None
    return "python"


def _cut_after_last_fence(
    text: str, resolve: Callable[[str | None], str | None] = normalize_language
) -> str:
    """Keep the reply up to the end of the code block that will run (drop invented output)."""
    lines = text.split("\n")
    parser = FenceParser()
    kept: list[str] = []
    for line in lines:
        kept.append(line)
        if any(_block_language(b, resolve) for b in parser.feed(line + "\n")):
            break
    return "\n".join(kept).rstrip()


__all__ = ["Session"]
