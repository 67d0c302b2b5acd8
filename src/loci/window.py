"""What one model call of a session is sent, fitted to the model's window.

``prompt`` builds it: the system prompt (the project's instructions, the request's recipes,
the MCP tools, what the Python kernel holds) and as much of the history as fits, its older
turns compacted from ``past`` (``loci.compaction``). ``past`` says where they are compacted
from, with the model writing their summary when ``compact_with`` says so (``loci.recap``);
``compacted`` tells the person a compaction was made and counts the summary's call. Functions
of a ``Session``, which keeps one-line methods of the same names.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from . import compaction, prompts
from .compaction import Past
from .context import input_budget
from .events import Notice
from .messages import Message
from .recap import Recap, writes_summaries

if TYPE_CHECKING:
    from .session import Session


def prompt(
    session: Session, history: Sequence[Message], know_how: Sequence[str], past: Past | None
) -> list[Message]:
    """What a model call is sent now for ``history``; its older turns are compacted from
    ``past`` (``past_of``), or dropped when they do not fit if it is None."""
    state = session.kernels.state
    return prompts.for_model(
        session.model,
        history,
        str(session.settings.workdir),
        session.kernels.gateway_languages(),
        know_how,
        session.instructions.text if session.instructions else "",
        session.tools.prompt(session.model.supports_tools),
        state.summary() if state and session.settings.kernel_state else "",
        past,
    )


def past_of(session: Session, record: bool = True) -> Past | None:
    """Where older turns are compacted from (None with ``--no-compact``); the model writes
    their summary when ``compact_with`` says so. With ``record`` False, a look (``%tokens``):
    nothing is stored and no model is asked."""
    if not session.settings.compact:
        return None
    writer = None
    if record and writes_summaries(session.model, session.settings.compact_with):
        budget = input_budget(session.model.context_window)
        writer = Recap(session.model, budget, session.cancel_event)
    return Past(session.store, session.conversation_id, record=record, writer=writer)


def compacted(session: Session, past: Past | None) -> Iterator[Notice]:
    """Say that a call compacted older turns, and count the summary's call."""
    if past is None or past.made is None:
        return
    if isinstance(past.writer, Recap):
        session.count_usage(past.writer.usage)
        for why in past.writer.failures:
            yield Notice("warning", f"the model's summary failed ({why}); sent a digest")
    yield Notice("info", compaction.describe(past.made))
