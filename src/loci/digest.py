"""A digest of a conversation's past: what a model is told of turns it is no longer sent.

Built from the stored records alone (no model call, so it is deterministic, free and works
for the smallest embedded model): for each of the person's requests, what they asked (their
goal), the files the code wrote and the files it read, the errors met and whether code later
in that request ran cleanly (fixed), the blocks the person declined (their decisions), and the
model's final answer (the results stated). Every part is capped, and so is the whole: when
the turns do not fit ``limit`` characters, the first ones (which set the goal) and the most
recent ones are kept and those between are named in one line with the files they wrote.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from .context import clip, trim_text
from .store.records import ExecutionRecord, Item, MessageRecord

# Of a request and of its final answer, the start: as much as the limit allows, from the
# first of these (request, answer) sizes to the last, before turns are left out.
SIZES = ((240, 320), (120, 160), (60, 80))
PROBLEM_CHARS = 160  # of one error or refusal
PROBLEMS_PER_TURN = 3
FILES_PER_TURN = 6
FILES_LEFT_OUT = 12  # files named for the turns the digest leaves out
HEAD_TURNS = 2  # the first requests, kept when turns must be left out
HEAD_SHARE = 3  # ... within a third of the limit
# A quoted name with an extension, in code: a file it reads (or writes, if none was found).
_PATH = re.compile(r"""["']([\w./~-]{1,200}\.[A-Za-z][A-Za-z0-9]{0,4})["']""")


@dataclass
class TurnFacts:
    """What one request came to, as the digest tells it."""

    number: int
    request: str = ""
    answer: str = ""
    runs: int = 0
    written: list[str] = field(default_factory=list)
    read: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def text(self, size: tuple[int, int] = SIZES[0]) -> str:
        request, answer = _short(self.request, size[0]), _short(self.answer, size[1])
        lines = [f"{self.number}. Asked: {request or '(loci notes only)'}"]
        facts = [f"ran {self.runs} block{'s' if self.runs != 1 else ''}"] if self.runs else []
        if self.problems:
            more = len(self.problems) - PROBLEMS_PER_TURN
            shown = self.problems[:PROBLEMS_PER_TURN] + ([f"{more} more"] if more > 0 else [])
            facts.append("met " + "; ".join(shown))
        if self.written:
            facts.append("wrote " + _names(self.written, FILES_PER_TURN))
        read = [f for f in self.read if f not in self.written]
        if read:
            facts.append("read " + _names(read, FILES_PER_TURN))
        if facts:
            lines.append("   " + ", ".join(facts) + ".")
        if answer:
            lines.append(f"   Answered: {answer}")
        return "\n".join(lines)


def digest(items: Sequence[Item], limit: int, workdir: str = "") -> str:
    """The digest of ``items`` (a conversation's records, in seq order), at most about
    ``limit`` characters; files under ``workdir`` are named relative to it."""
    turns = facts(items, workdir)
    for size in SIZES:
        blocks = [t.text(size) for t in turns]
        if sum(len(b) + 1 for b in blocks) <= limit:
            return trim_text("\n".join(blocks), limit)
    head_room = limit // HEAD_SHARE
    head: list[str] = []
    for block in blocks[:HEAD_TURNS]:
        if sum(len(b) + 1 for b in head) + len(block) > head_room:
            break
        head.append(block)
    gap_room = 2 * FILES_LEFT_OUT * 24  # the line naming the turns left out, at most
    room = limit - sum(len(b) + 1 for b in head) - gap_room
    tail: list[str] = []
    for block in reversed(blocks[len(head) :]):
        if len(block) + 1 > room:
            break
        tail.insert(0, block)
        room -= len(block) + 1
    left_out = turns[len(head) : len(turns) - len(tail)]
    return trim_text("\n".join([*head, _gap(left_out), *tail]), limit)


def _gap(turns: Sequence[TurnFacts]) -> str:
    if not turns:
        return ""
    first, last = turns[0].number, turns[-1].number
    span = f"request {first}" if first == last else f"requests {first}–{last}"
    line = f"[{span} left out here, to fit; the stored history has them"
    written = _unique(f for t in turns for f in t.written)
    if written:
        line += "; they wrote " + _names(written, FILES_LEFT_OUT)
    return line + "]"


def facts(items: Sequence[Item], workdir: str = "") -> list[TurnFacts]:
    """Each request's facts, from ``items``; what comes before the first request (a resumed
    conversation's note) counts as a turn of its own only if code ran in it."""
    base = workdir.rstrip("/") + "/" if workdir else ""
    turns: list[TurnFacts] = []
    current = TurnFacts(0)
    outcomes: list[tuple[ExecutionRecord, str]] = []
    for item in items:
        if isinstance(item, MessageRecord) and item.role == "user" and item.message.by == "person":
            _close(turns, current, outcomes)
            current, outcomes = TurnFacts(len(turns) + 1, request=_request(item.content)), []
        elif isinstance(item, MessageRecord):
            _answer(current, item)
        else:
            _execution(current, item, outcomes, base)
    _close(turns, current, outcomes)
    return turns


def _request(content: str) -> str:
    from .prompts import request_of  # the prompts package imports this module's caller

    return _short(request_of(content), SIZES[0][0])


def _answer(turn: TurnFacts, record: MessageRecord) -> None:
    """The last text the model wrote without code is the request's answer."""
    m = record.message
    if m.role == "assistant" and m.content.strip() and not m.tool_calls and "```" not in m.content:
        turn.answer = _short(m.content, SIZES[0][1])


def _execution(
    turn: TurnFacts,
    record: ExecutionRecord,
    outcomes: list[tuple[ExecutionRecord, str]],
    base: str,
) -> None:
    if record.status == "denied":
        declined = f"a block the person declined ({record.message})"
        turn.problems.append(_short(declined, PROBLEM_CHARS))
        return
    turn.runs += 1
    written = [f.removeprefix(base) if base else f for f in record.files]
    turn.written.extend(f for f in written if f not in turn.written)
    turn.read.extend(p for p in _PATH.findall(record.code) if p not in turn.read)
    if record.status == "ok":
        outcomes.append((record, ""))
    else:
        outcomes.append((record, _problem(record)))


def _problem(record: ExecutionRecord) -> str:
    if record.error_name:
        what = f"{record.error_name}: {record.error_value}".rstrip(": ")
    elif record.exit_code is not None:
        what = f"exit status {record.exit_code} ({record.language})"
    else:
        what = f"{record.status}: {record.message}".rstrip(": ")
    return _short(what, PROBLEM_CHARS)


def _close(
    turns: list[TurnFacts], turn: TurnFacts, outcomes: list[tuple[ExecutionRecord, str]]
) -> None:
    """Say of each failed run whether a later one in the turn ran cleanly; keep the turn."""
    for n, (_, problem) in enumerate(outcomes):
        if problem:
            fixed = any(not later for _, later in outcomes[n + 1 :])
            turn.problems.append(f"{problem} ({'fixed' if fixed else 'not fixed'})")
    if turn.number or turn.runs:
        turns.append(turn)


def _short(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return clip(flat, limit)


def _unique(names: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(names))


def _names(names: Sequence[str], most: int) -> str:
    shown = ", ".join(_short(n, 80) for n in names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")
