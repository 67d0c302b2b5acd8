"""One step of a turn: a model call, then its answer or its code.

``Session.run`` calls ``step`` until it returns a status. A step streams one reply; a reply
without code is the turn's answer, unless no output backs it (``coaching``), it lacks the
``@field[value]`` form its request asks for (``answer_form``) or it is not in the request's
language (``reply_language``), which send the model back with a note; a reply with code has
each block shown, approved (``Gate``) and run in its kernel, a missing module offered for
install, a block loci can fix for certain (a wrong column name, a keyword argument its
function does not take: ``code_fixes``) offered again fixed, and what came back stored for
the next call, with what the kernel's state tells of its error (``error_hints``). The step
cap, code sent a third time (after one last call for the answer, if code ran ok and printed
something to answer from) and interrupts end the turn here. Each function reads and changes
only the ``Turn`` it is given and the session's conversation.
"""

from __future__ import annotations

import sys
from collections.abc import Generator
from typing import TYPE_CHECKING

from . import answer_form, coaching, code_fixes, error_hints, reply_language
from .approval import code_hash
from .code_numbers import last_assigned
from .context import error_text, fold_fixed, format_result
from .events import CodeBlock, Event, ModelDone, Notice, TurnStatus
from .execution import ExecutionRequest, ExecutionResult
from .grounding import Evidence, ground
from .messages import Message, ToolCall
from .reply import stream_reply
from .turn import Turn, code_key

if TYPE_CHECKING:
    from .session import Session

REPEATED = "the model repeated code it already ran"  # what the person is told, then what next


def step(session: Session, turn: Turn) -> Generator[Event, None, TurnStatus | None]:
    """One model call and what follows from it; returns a status when the turn ends."""
    turn.steps += 1
    capped = turn.steps > session.settings.max_steps
    final = capped or turn.closing
    just_asked = bool(turn.form_note) and session.messages[-1].content == turn.form_note
    if capped and not turn.closing and not just_asked:  # a note just sent says what to do
        session.note(coaching.FINAL_NOTE)
    if final and turn.prefill == coaching.CODE_PREFILL:  # a nudge for code comes too late now
        turn.prefill = ""
    reply = yield from _model_step(session, turn)
    if reply is None:
        return "interrupted" if session.cancel_event.is_set() else "error"
    blocks = reply.tool_calls
    if not blocks:
        return (yield from _answer(session, turn, reply.content, final))
    if final:
        for call in blocks:  # settled, not left unanswered
            session.add(Message("tool", coaching.NOT_RUN_NOTE, tool_call_id=call.id))
        if (yield from _ask_form(session, turn, reply.content)):  # one last call for it
            return None
        if turn.closing:
            yield Notice("warning", f"{REPEATED}; stopping")
            return "repeated"
        yield Notice("warning", f"stopped after {session.settings.max_steps} code rounds")
        return "max_steps"
    keys = [code_key(c.language, c.code) for c in blocks]  # each block parsed once
    if all(k in turn.run_codes for k in keys):
        turn.repeats += 1
        again = turn.repeats > coaching.MAX_REPEATS
        if again and not _printed(turn):
            yield Notice("warning", f"{REPEATED}; stopping")
            return "repeated"  # nothing printed to answer from: an answer would be a guess
        for call in blocks:  # not run again: say so (the first time, how it ended)
            note = coaching.NOT_RUN_NOTE if again else coaching.repeat_note(turn)
            session.add(Message("tool", note, tool_call_id=call.id))
        if again:  # one last call, for the answer from what the code printed
            turn.closing = True
            yield Notice("warning", f"{REPEATED}; asking for its answer")
            session.note(coaching.CLOSING_NOTE)
        else:  # the person saw the block: say why nothing ran
            yield Notice("info", "not run: the same code already ran in this request")
        return None
    turn.run_codes.update(keys)
    return (yield from _run_calls(session, turn, blocks))


def _printed(turn: Turn) -> bool:
    """Whether the turn has something to answer from: a block ran ok and code printed."""
    return bool(turn.ok_calls) and any(text.strip() for text in turn.evidence)


def _answer(
    session: Session, turn: Turn, text: str, final: bool
) -> Generator[Event, None, TurnStatus | None]:
    """A reply without code: the turn's answer, unless no output backs it yet."""
    evidence = Evidence(turn.evidence, turn.literals, turn.preview)
    grounding = ground(text, evidence, turn.text)
    note = None if final else coaching.unbacked_note(turn, text, grounding)
    if note is not None:
        turn.nudges += 1
        yield Notice("info", coaching.nudge_notice(note))
        session.note(note)
        turn.prefill = coaching.CODE_PREFILL  # where the model allows, start with code
        return None
    if (yield from _ask_form(session, turn, text)):
        return None
    last = turn.steps >= session.settings.max_steps  # the ask would meet the step limit's note
    language = None if last else reply_language.ask_again(turn.text, text, turn.language_asked)
    if language is not None:  # once a turn, for an answer in the request's language
        turn.language_asked = True
        yield Notice("info", f"asking for the answer again, in {language.name}")
        session.note(language.ask(text))
        return None
    turn.answer, turn.grounding = text, grounding
    if grounding.supported or grounding.unsupported:
        if turn.reply_id is not None:  # kept with the answer: reloads still show it
            session.store.set_grounding(turn.reply_id, grounding)
        yield grounding
    return "done"


def _ask_form(session: Session, turn: Turn, answer: str) -> Generator[Event, None, bool]:
    """Send the model back, once a turn, for an answer in the ``@field[value]`` form its
    request asks for, when ``answer`` lacks fields; True if it was sent back."""
    ask = answer_form.ask_again(turn.text, answer, bool(turn.form_note))
    if ask is None:
        return False
    turn.form_note = ask.note
    yield Notice("info", "the answer lacks " + ", ".join(f"@{n}" for n in ask.missing))
    session.note(ask.note)
    turn.prefill = ask.prefill
    return True


def _model_step(session: Session, turn: Turn) -> Generator[Event, None, Message | None]:
    """One model call. Returns the reply, or None if it failed or was stopped."""
    yield from session.tools.news()
    past = session.past()
    sent = session.prompt(
        fold_fixed(session.messages, turn.start, turn.failed_calls, turn.ok_calls),
        turn.know_how,
        past=past,
    )
    yield from session.compacted(past)
    reply = yield from stream_reply(
        session.model,
        sent,
        session.cancel_event,
        session.kernels.language_of,
        session.new_id,
        turn.prefill,
        session.tools.specs(),
    )
    turn.prefill = ""
    session.count_usage(reply.usage)
    kept = reply.calls if session.model.supports_tools else ()  # fenced code stays in the text
    stored = Message("assistant", reply.text, kept)
    turn.reply_id = session.add(stored) if reply.text or reply.calls else None
    yield ModelDone(reply.text, reply.usage, stopped=reply.stopped)
    return None if reply.stopped else Message("assistant", reply.text, reply.calls)


def _run_calls(
    session: Session, turn: Turn, calls: tuple[ToolCall, ...]
) -> Generator[Event, None, TurnStatus | None]:
    """Approve and run each call; feed results back. Returns a status to stop with."""
    for call in calls:
        result = yield from run_call(session, turn, call)
        images = turn.images.pop(call.id, ())
        session.add(Message("tool", result, tool_call_id=call.id, images=images))
        if session.cancel_event.is_set():
            return "interrupted"
    return None


def run_call(
    session: Session, turn: Turn, call: ToolCall, *, fix: bool = True
) -> Generator[Event, None, str]:
    """Show, approve and run one call; return what the model reads back. ``fix``: propose
    the block again with wrong column names fixed (not for another program's model, whose
    code is its own to change)."""
    language = session.kernels.language_of(call.language) or call.language
    block = CodeBlock(call.id, language, call.code, code_hash(call.code))
    request = yield from session.gate.admit(session.conversation_id, block)
    if isinstance(request, str):
        return request
    result = yield from _execute(session, request)
    module = coaching.missing_module(result.done)
    if module and not session.cancel_event.is_set():
        installed = yield from _offer_install(session, module)
        if installed:
            result = yield from _execute(session, request)
    turn.record(call.id, request, result, coaching.failure(result.done))
    text = _read_back(request, result)
    state = session.kernels.state if request.language == "python" else None
    traceback = error_text(result.outputs)
    told = error_hints.hint(result.done, state, traceback)
    text = f"{text}\n{told}" if told else text
    fixed = code_fixes.fixed_code(result.done, state, traceback, request.code) if fix else None
    if fixed is not None and not session.cancel_event.is_set():
        text += yield from _offer_fix(session, turn, call.id, fixed)
    return text


FIX_RAN = "loci ran your code again {change}:\n```python\n{code}\n```\n"


def _offer_fix(
    session: Session, turn: Turn, call_id: str, fixed: code_fixes.Fix
) -> Generator[Event, None, str]:
    """Propose ``fixed``, the failed block fixed (``code_fixes``), approved like any code;
    return what the model reads of it ("" when it did not run). A small model told the right
    name sends its failed code again."""
    yield Notice("info", fixed.notice())
    block = CodeBlock(session.new_id("fix"), "python", fixed.code, code_hash(fixed.code))
    request = yield from session.gate.admit(session.conversation_id, block)
    if isinstance(request, str):
        return ""
    result = yield from _execute(session, request)
    turn.record(call_id, request, result, coaching.failure(result.done))
    turn.run_codes.add(code_key(request.language, request.code))
    if result.done.status == "ok":  # the call's result holds working code: never folded
        turn.failed_calls.discard(call_id)
    return (
        "\n" + FIX_RAN.format(change=fixed.change, code=request.code) + _read_back(request, result)
    )


def _read_back(request: ExecutionRequest, result: ExecutionResult) -> str:
    """What the model reads of a block that ran (a last ``answer = …`` unprinted is named)."""
    unprinted = last_assigned(request.language, request.code)
    return format_result(result.outputs, result.done, unprinted=unprinted)


def _execute(
    session: Session, request: ExecutionRequest
) -> Generator[Event, None, ExecutionResult]:
    if session.tools.runs(request.language):  # a model's call to an MCP tool
        return (yield from session.tools.execute(request, session.store))
    kernel = session.kernels.get(request.language)
    result = yield from session.tools.run_block(kernel, session.store, request)
    session.kernels.look(kernel)  # what the model is told the kernel holds (prompts)
    return result


def _offer_install(session: Session, module: str) -> Generator[Event, None, bool]:
    """Propose ``pip install`` into the kernel's environment, approved like any code."""
    python = session.kernels.python or sys.executable  # the kernel's venv when sandboxed
    package, code = coaching.pip_install(python, module)
    yield Notice("info", f"{module} is not installed; proposing to install {package}")
    block = CodeBlock(session.new_id("pip"), "shell", code, code_hash(code))
    request = yield from session.gate.admit(session.conversation_id, block, audit=False)
    if isinstance(request, str):
        return False
    result = yield from _execute(session, request)
    return result.done.status == "ok"
