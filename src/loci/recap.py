"""A compaction's summary written by the model: a separate call, with its own budget.

``loci.compaction`` replaces a long conversation's older turns with one note. For a model
that can write it (an API model; ``compact_with`` decides), the note is the model's own
summary of those turns: one call, outside the conversation, sent the turns' transcript
(requests, code, results, answers; the oldest left out when it does not fit a share of the
window) with the deterministic digest (``loci.digest``) as the facts loci recorded, and asked
for the goals, files, results, decisions and errors in at most ``tokens`` tokens. A reply that
is empty or fails (any ``ModelError``, or a stop) leaves the digest in its place, so compaction
never fails because the summary did; a reply that is too long is cut. A stop (``cancel``)
keeps nothing: the next call that needs a compaction makes it again. The call's usage is kept
on the ``Recap`` so the turn can count it.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from .context import clip
from .errors import ModelError
from .events import Usage
from .messages import Message
from .models.base import CHARS_PER_TOKEN, Model, TextChunk, UsageChunk

CHOICES = ("auto", "model", "digest")
TRANSCRIPT_SHARE = 2  # the transcript may use half of the model's input budget
MESSAGE_CHARS = 1500  # of one message in the transcript
INSTRUCTION = (
    "You summarise the earlier part of a conversation between a person and a code "
    "interpreter, so that the conversation can go on without it. Write at most {words} "
    "words of plain notes, no preamble. Keep: what the person wants (their goals), the files "
    "read and written (exact names), the results stated with their exact values, the names "
    "the code defined that later steps use, the decisions made (blocks declined, choices), "
    "and the errors met and how they were fixed. Leave out greetings and anything settled "
    "that later steps do not need. State only what the transcript shows."
)


def writes_summaries(model: Model, choice: str) -> bool:
    """Whether ``model`` writes compaction summaries: ``compact_with`` is "model", or "auto"
    and the model is not an embedded (small, local) or scripted one."""
    if choice != "auto":
        return choice == "model"
    return not model.name.startswith(("local", "scripted"))


class Recap:
    """Writes summaries with ``model``; ``usage`` adds up what the calls cost."""

    def __init__(self, model: Model, budget: int, cancel: threading.Event | None = None):
        self.model = model
        self.budget = budget  # the model's input budget in tokens
        self.cancel = cancel
        self.usage = Usage()
        self.failures: list[str] = []  # why a summary fell back to the digest

    def __call__(self, turns: Sequence[Message], facts: str, tokens: int) -> str | None:
        """The model's summary of ``turns`` in at most ``tokens`` tokens, "" when it failed
        (the digest ``facts`` is used then), or None when it was stopped (nothing is kept)."""
        ask = Message("system", INSTRUCTION.format(words=max(40, tokens * 3 // 4)))
        room = self.budget // TRANSCRIPT_SHARE - self.model.count_tokens(facts) - 200
        body = (
            "Facts loci recorded of these turns:\n"
            f"{facts}\n\nThe transcript (the oldest parts may be left out):\n"
            f"{transcript(turns, max(room, 0) * CHARS_PER_TOKEN)}"
        )
        text = ""
        try:
            for chunk in self.model.stream([ask, Message("user", body)], cancel=self.cancel):
                if isinstance(chunk, TextChunk):
                    text += chunk.text
                elif isinstance(chunk, UsageChunk):
                    self.usage = self.usage + chunk.usage
        except ModelError as exc:
            if self.cancel is not None and self.cancel.is_set():
                return None
            self.failures.append(exc.message)
            return ""
        if self.cancel is not None and self.cancel.is_set():
            return None
        text = text.strip()
        limit = tokens * CHARS_PER_TOKEN
        if not text:
            self.failures.append("the model wrote nothing")
        return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def transcript(turns: Sequence[Message], limit: int) -> str:
    """``turns`` as plain text, each message cut to ``MESSAGE_CHARS``; the newest kept
    whole within ``limit`` characters, and the first request too, which sets the goal."""
    lines = [_line(m) for m in turns]
    lines = [line for line in lines if line]
    kept: list[str] = []
    used = len(lines[0]) if lines else 0
    for line in reversed(lines[1:]):
        if used + len(line) + 1 > limit:
            kept.append("[… earlier turns left out …]")
            break
        kept.append(line)
        used += len(line) + 1
    return "\n".join([*lines[:1], *reversed(kept)])[: max(limit, 0)]


def _line(message: Message) -> str:
    if message.role == "system":
        return ""
    who = {"user": "Person" if message.by == "person" else "loci", "tool": "Result"}
    text = _cut(message.content)
    parts = [f"{who.get(message.role, 'Assistant')}: {text}"] if text else []
    for call in message.tool_calls:
        parts.append(f"Code ({call.language}):\n{_cut(call.code)}")
    return "\n".join(parts)


def _cut(text: str) -> str:
    return clip(text.strip(), MESSAGE_CHARS)
