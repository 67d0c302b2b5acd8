"""Compaction: a long conversation's older turns sent as a digest, instead of dropped.

When the history no longer fits the model's window, the turns before the recent ones are
replaced, in what a model call is *sent*, by one note from loci: their digest
(``loci.digest``, built from the stored records), or with a ``writer`` the model's own summary
of them (``loci.recap``, the digest kept when that fails). The store keeps every message; the note
used is recorded (``Store.add_compaction``: the seq range it stands for, its text, why), so
``loci show --json`` says what the model saw. Later calls reuse the newest compaction, so the
start of what is sent stays the same from call to call; when even that no longer fits, a new
one covers more turns, leaving the recent ones about half the budget to grow in.

What is never compacted: the system prompt, the last request and everything after it (the
turn in progress), and what is left of the window then is cut as before
(``context.fit_history``). ``compact_now`` is ``%compact``: all but the last request, now.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .context import fit_history
from .digest import digest
from .messages import Message
from .models.base import CHARS_PER_TOKEN, message_tokens
from .store import CompactionRecord, Store

DIGEST_SHARE = 3  # a digest may use a third of the input budget ...
DIGEST_MAX_TOKENS = 2000  # ... and no more than this
KEEP_SHARE = 2  # after a compaction the verbatim turns use at most half the budget
HEADER = (
    "(loci: the first {turns} request{s} of this conversation, compacted to fit the window. "
    "The full history is stored; what the code defined then may still be in the kernel.)"
)

Count = Callable[[str], int]
# (the turns, their digest, tokens) -> the summary, "" to keep the digest, None when stopped
Writer = Callable[[Sequence[Message], str, int], "str | None"]


@dataclass
class Past:
    """Where a conversation's history is stored, for compacting it. With ``record`` False
    (a look, as ``%tokens`` takes) a new compaction is made but not stored; ``used`` is the
    compaction the last ``fit`` sent, if any."""

    store: Store
    conversation_id: int
    record: bool = True
    used: CompactionRecord | None = None
    writer: Writer | None = None  # the model's summary in place of the digest (loci.recap)
    made: CompactionRecord | None = None  # the compaction the last ``fit`` made, if it made one


def fit(
    system: Message,
    history: Sequence[Message],
    count: Count,
    budget: int,
    past: Past | None,
    image_tokens: Count | None = None,
) -> list[Message]:
    """What of ``history`` is sent after ``system`` within ``budget`` tokens: all of it if it
    fits, else its older turns compacted (with ``past``), and then cut to fit. Images count
    with ``image_tokens`` (a model that sees them)."""

    def count_of(ms: Sequence[Message]) -> int:
        return sum(message_tokens(m, count, image_tokens) for m in ms)

    def cut(ms: list[Message]) -> list[Message]:
        return fit_history(ms, count, budget, image_tokens)

    whole = [system, *history]
    if past is None:
        return cut(whole)
    past.used = latest = past.store.latest_compaction(past.conversation_id)
    if latest is None and count_of(whole) <= budget:
        return cut(whole)
    starts = [i for i, m in enumerate(history) if is_request(m)]
    seqs = past.store.message_seqs(past.conversation_id)
    if not starts or len(seqs) <= starts[-1]:  # not the stored conversation: nothing to recall
        past.used = None
        return cut(whole)
    done = bisect.bisect_right(seqs, latest.last_seq) if latest else 0
    if latest is not None and (done > starts[-1] or done not in starts):
        latest = past.used = None  # it no longer matches (the history changed under it)
        done = 0
    sent = _with(system, latest, history[done:])
    if count_of(sent) <= budget:
        return cut(sent)
    room = min(budget // KEEP_SHARE, budget - count_of([system]) - _digest_tokens(budget))
    keep = next((b for b in starts if b > done and count_of(history[b:]) <= room), starts[-1])
    if keep > done:
        latest = past.used = _compact(past, seqs, history, keep, budget, "window")
    return cut(_with(system, latest, history[keep if keep > done else done :]))


def compact_now(past: Past, history: Sequence[Message], window: int) -> CompactionRecord | None:
    """Compact every turn before the last request now (``%compact``); None when there is
    nothing more to compact, or the model's summary was stopped. ``window``: the model's
    input budget in tokens."""
    starts = [i for i, m in enumerate(history) if is_request(m)]
    seqs = past.store.message_seqs(past.conversation_id)
    if len(starts) < 2 or len(seqs) <= starts[-1]:
        return None
    latest = past.store.latest_compaction(past.conversation_id)
    if latest is not None and latest.last_seq >= seqs[starts[-1]] - 1:
        return None
    past.used = _compact(past, seqs, history, starts[-1], window, "asked")
    return past.used if past.used.id else None  # not stored: the summary was stopped


def is_request(message: Message) -> bool:
    """Whether ``message`` is one of the person's requests (where a turn begins)."""
    return message.role == "user" and message.by == "person"


def describe(record: CompactionRecord) -> str:
    """What a person is told of a compaction made."""
    s = "" if record.turns == 1 else "s"
    by = "a summary the model wrote" if record.method == "model" else "a digest"
    return (
        f"compacted the first {record.turns} request{s} into {by} "
        f"({len(record.text):,} characters) to fit the window; the full history stays stored"
    )


def note(record: CompactionRecord) -> Message:
    """The message a model is sent in place of the turns ``record`` stands for."""
    return Message("user", record.text, origin="loci")


def _compact(
    past: Past,
    seqs: Sequence[int],
    history: Sequence[Message],
    cut: int,
    budget: int,
    reason: str,
) -> CompactionRecord:
    """Digest the stored items before ``history[cut]`` (a request), and record that."""
    first, last = seqs[0], seqs[cut] - 1
    record = past.store.get_conversation(past.conversation_id)
    items = [i for i in record.items if i.seq <= last]
    turns = sum(1 for m in history[:cut] if is_request(m))
    head = HEADER.format(turns=turns, s="" if turns == 1 else "s")
    limit = _digest_tokens(budget) * CHARS_PER_TOKEN - len(head) - 1
    body, method = digest(items, limit, record.summary.workdir), "digest"
    keep = past.record
    if past.writer is not None and past.record:  # a look (%tokens) costs no model call
        written = past.writer(history[:cut], body, limit // CHARS_PER_TOKEN)
        body, method = (written, "model") if written else (body, method)
        keep = written is not None  # stopped: used for this call only, never stored
    text = f"{head}\n{body}"
    if keep:
        past.made = past.store.add_compaction(
            past.conversation_id, first_seq=first, last_seq=last, turns=turns, text=text,
            method=method, reason=reason,
        )  # fmt: skip
        return past.made
    return CompactionRecord(0, first, last, turns, method, reason, text, past.store.now())


def _with(
    system: Message, compaction: CompactionRecord | None, rest: Sequence[Message]
) -> list[Message]:
    return [system, *([note(compaction)] if compaction else []), *rest]


def _digest_tokens(budget: int) -> int:
    return min(DIGEST_MAX_TOKENS, budget // DIGEST_SHARE)
