"""Code written outside loci, run as if loci's model had asked: ``Session.execute``.

A front end whose person talks to another program's model (loci as an MCP server: the MCP
client's model writes the code) hands each block to ``execute``. It goes the way of a block
from loci's own model: shown, approved by the session's policy (risk rules, auto-run), run in
the conversation's persistent kernel with its sandbox, limits and timeout, a missing module
offered for ``pip install``, every output stored in full with its audit record. The block is
stored as an assistant message with a tool call and its trimmed result as the tool message,
so ``loci history``, ``loci show``, export and resume see it like any other.

Such a conversation has no loci model: ``ExternalModel`` stands in for it, names the program
in the history's model column, and refuses to be asked anything.
"""

from __future__ import annotations

import threading
from collections.abc import Generator, Iterator, Sequence
from typing import TYPE_CHECKING

from . import steps
from .errors import LociError, ModelError
from .events import Event
from .messages import Message, ToolCall, ToolSpec
from .models.base import ModelChunk, estimate_tokens
from .store import title_of
from .turn import Turn

if TYPE_CHECKING:
    from .session import Session

ORIGIN_NOTE = (
    "(This conversation came from another program ({name}): its model wrote the code below, "
    "and loci ran it.)"
)


class ExternalModel:
    """The model of a conversation whose code comes from another program (``name``, e.g.
    ``mcp:claude-ai``). It is never called: asking it is a ModelError."""

    supports_tools = True
    context_window = 32768

    def __init__(self, name: str) -> None:
        self.name = name

    def stream(
        self,
        messages: Sequence[Message],
        *,
        cancel: threading.Event | None = None,
        tools: Sequence[ToolSpec] = (),
    ) -> Iterator[ModelChunk]:
        raise ModelError(
            f"this conversation's code comes from {self.name}; resume it with a model "
            "(loci resume ID -m MODEL) to ask loci's own"
        )

    def count_tokens(self, text: str) -> int:
        return estimate_tokens(text)


def execute(session: Session, language: str, code: str) -> Generator[Event, None, str]:
    """Approve and run ``code`` in ``session``; yields CodeBlock, Approval, then (when it
    runs) ExecutionStart, Output*, ExecutionDone, with Notice and a pip-install block where
    they apply. Returns the text stored as the block's result: the trimmed output (which
    names the execution id of the full one) or why it did not run.

    A LociError (a kernel that cannot start) propagates, after its message is stored as the
    result, so the stored conversation never holds a call without its result.
    """
    session.cancel_event.clear()  # a Stop meant for an earlier block does not stop this one
    if not session.messages:
        session.store.set_title(session.conversation_id, title_of(code) or language)
        session.note(ORIGIN_NOTE.format(name=session.model.name))
    call = ToolCall(session.new_id(), language, code)
    session.add(Message("assistant", "", (call,)))
    result = "[not run: stopped]"
    try:
        result = yield from steps.run_call(session, Turn(code), call, fix=False)
    except LociError as exc:
        result = f"[not run: {exc.message}]"
        raise
    finally:  # also when the caller stops reading: the call gets its result
        session.add(Message("tool", result, tool_call_id=call.id))
    return result
