"""The effort setting: several attempts at one request, the answer most of them agree on kept.

With ``effort`` N above 1, a request whose first attempt ran code is attempted again, up to N
times in all, each from the request alone: the model sees none of the other attempts. An
embedded model, greedy otherwise, draws each further attempt at its ``vote_temperature`` with
a seed of its own (``VaryingModel``); a model that already samples is asked as it is.

Each attempt's answer is reduced to what it claims (``claim``): the values of the
``@name[value]`` fields its request asks for, else the last number of the answer that an
output of that attempt backs (``loci.grounding``), numbers compared to ``SIGNIFICANT``
digits. An attempt that ended without an answer, ran no code that ended ok, or claims nothing
does not vote. The claim most attempts share wins, a tie going to the earliest (the first
attempt is the model's unsampled, best single guess); no more attempts are made once the rest
cannot change the result (two of three agreeing settles it).

Nothing is lost: every attempt's code, outputs and replies stay in the history. The messages
of an attempt not kept are set aside (``Store.set_aside``), shown in the history but never
sent to a model again, so the next request goes on from the kept attempt alone. The kernel is
shared: an attempt runs where the ones before it ran, as a person redoing a sum would.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import answer_form
from .events import Event, Notice, TurnStatus, Vote
from .messages import Message
from .models.base import Model, VaryingModel
from .number_text import tokens, value
from .turn import Turn

if TYPE_CHECKING:
    from .session import Session

Claim = tuple[str, ...]
SIGNIFICANT = 6  # digits two numbers must share to claim the same (printed rounding differs)


def worth_more(turn: Turn, status: TurnStatus) -> bool:
    """Whether more attempts can check the first: it ran code and was not stopped or broken
    (an answer without code, a translation say, is not a sum to redo)."""
    return turn.executions > 0 and status not in ("interrupted", "error")


def claim(turn: Turn, status: TurnStatus) -> Claim | None:
    """What the attempt ``turn`` answers, as attempts are compared; None: it does not vote."""
    if status != "done" or not turn.ok_calls or not turn.answer.strip():
        return None
    wanted = answer_form.fields(turn.text)
    if wanted:
        given = dict(answer_form.ANSWER.findall(turn.answer))  # a field given twice: the last
        if not all(name in given for name in wanted):
            return None
        return tuple(_same(given[name]) for name in wanted)
    backed = turn.grounding.supported if turn.grounding else ()
    return (_same(backed[-1]),) if backed else None


def _same(text: str) -> str:
    """What two answers must share to agree: their numbers to ``SIGNIFICANT`` digits, else
    their words without case, spacing or quotes."""
    found = [v for t in tokens(text) if (v := value(t)) is not None]
    if found:
        return ",".join(f"{float(v):.{SIGNIFICANT}g}" for v in found)
    return " ".join(text.casefold().split()).strip(" .'\"")


@dataclass
class Attempt:
    """One attempt at the request: how it ended, what it added, where that sits in the store."""

    number: int  # from 1
    turn: Turn
    status: TurnStatus
    message: str  # an error's, if it ended in one
    messages: list[Message]  # what it added to the conversation
    after: int  # its stored messages have after < seq <= upto
    upto: int
    claim: Claim | None


class Tally:
    """The claims of the attempts so far."""

    def __init__(self) -> None:
        self.counts: Counter[Claim] = Counter()

    def add(self, attempt: Attempt) -> None:
        if attempt.claim is not None:
            self.counts[attempt.claim] += 1

    def settled(self, left: int) -> bool:
        """Whether ``left`` more attempts could no longer change which claim leads."""
        ranked = [*sorted(self.counts.values(), reverse=True), 0, 0]
        return ranked[0] > ranked[1] + left

    def agree(self, attempt: Attempt) -> int:
        """How many attempts claim what ``attempt`` does (0: it does not vote)."""
        return self.counts[attempt.claim] if attempt.claim is not None else 0

    def kept(self, attempts: list[Attempt]) -> Attempt:
        """The earliest attempt with the claim most attempts share; the first if none votes."""
        if not self.counts:
            return attempts[0]
        most = max(self.counts.values())
        return next(a for a in attempts if self.agree(a) == most)


def more(
    session: Session, first: Turn, status: TurnStatus, message: str
) -> Generator[Event, None, tuple[TurnStatus, str, int]]:
    """Attempt the request of ``first`` (which ended with ``status``) again, up to
    ``effort`` attempts in all; keep the one most agree with. Returns the kept attempt's
    status (interrupted, if the person stopped one) and message, and the steps of all."""
    effort, store, conv = session.settings.effort, session.store, session.conversation_id
    start = first.start
    seqs = store.message_seqs(conv)  # as session.messages: the request is at start - 1
    attempts = [
        Attempt(
            1, first, status, message, session.messages[start:], seqs[start - 1],
            store.last_seq(conv), claim(first, status),
        )
    ]  # fmt: skip
    tally = Tally()
    tally.add(attempts[0])
    base = session.model
    for number in range(2, effort + 1):
        if tally.settled(effort - number + 1):
            break
        yield Notice(
            "info", f"effort {effort}: attempt {number} of {effort}, from the request alone"
        )
        before = attempts[-1]
        store.set_aside(conv, before.after, before.upto)  # the model no longer sees it
        del session.messages[start:]
        turn, after = first.again(session.usage), store.last_seq(conv)
        session.model = _varied(base, number)
        try:
            status, message = yield from session.attempt(turn)
        finally:
            session.model = base
        made = Attempt(
            number, turn, status, message, session.messages[start:], after,
            store.last_seq(conv), claim(turn, status),
        )  # fmt: skip
        attempts.append(made)
        tally.add(made)
        if status in ("interrupted", "error"):
            break
    kept, last = tally.kept(attempts), attempts[-1]
    if kept is not last:
        store.set_aside(conv, last.after, last.upto)
        store.set_aside(conv, kept.after, kept.upto, aside=False)
        session.messages[start:] = kept.messages
    again = kept.turn.answer.strip() != last.turn.answer.strip()  # not what is on screen
    yield Vote(kept.turn.answer, kept.number, tally.agree(kept), len(attempts), again)
    stopped = last.status if last.status in ("interrupted", "error") else None
    steps = sum(a.turn.steps for a in attempts)
    return stopped or kept.status, last.message if stopped else kept.message, steps


def _varied(model: Model, number: int) -> Model:
    """The model that makes attempt ``number``: a sampled twin of one that would answer the
    same again, seeded by the number (the same request draws the same attempts)."""
    return model.varied(number) if isinstance(model, VaryingModel) else model
