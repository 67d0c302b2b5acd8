"""Are the numbers in an answer backed by what the code printed?

``ground(answer, evidence, question)`` finds every number the final reply states and looks for
it in the outputs of the turn's executions. A number counts as supported when some output
holds the same value, allowing for rounding to the precision the answer uses (``3.14`` is
supported by ``3.14159``) and for thousands separators; numbers that merely restate the
question, and small counting words like list indices 1-10, are not judged.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from decimal import Decimal, InvalidOperation

from .events import Grounding

_NUMBER = re.compile(r"(?<![\w.])[-−]?\d[\d,]*(?:\.\d+)?(?:[eE][-+]?\d+)?")
_CODE = re.compile(r"```.*?(```|$)|`[^`\n]*`", re.S)


def numbers(text: str) -> list[str]:
    """The numbers written in ``text``, as written (code spans and fences left out)."""
    found: list[str] = []
    for m in _NUMBER.finditer(_CODE.sub(" ", text)):
        token = m.group(0).rstrip(",")
        if "," in token and not re.fullmatch(r"[-−]?\d{1,3}(,\d{3})+(\.\d+)?", token):
            found.extend(t for t in token.split(",") if t)
            continue
        found.append(token)
    return found


def _value(token: str) -> Decimal | None:
    try:
        return Decimal(token.replace(",", "").replace("−", "-"))
    except InvalidOperation:
        return None


def _places(token: str) -> int:
    mantissa = token.lower().split("e")[0]
    return len(mantissa.split(".")[1]) if "." in mantissa else 0


def _matches(token: str, candidates: Iterable[Decimal]) -> bool:
    value = _value(token)
    if value is None:
        return False
    places = _places(token)
    quantum = Decimal(1).scaleb(-places)
    for c in candidates:
        if c == value:
            return True
        if "e" not in token.lower():
            try:
                if c.quantize(quantum) == value or abs(c - value) <= quantum / 2:
                    return True
            except InvalidOperation:
                continue
    return False


def ground(answer: str, evidence: Sequence[str], question: str = "") -> Grounding:
    """Split the numbers of ``answer`` into those the evidence supports and those it does
    not. Restatements of the question and the integers 0-10 are left out of both lists."""
    seen = {v for t in numbers("\n".join(evidence)) if (v := _value(t)) is not None}
    asked = {v for t in numbers(question) if (v := _value(t)) is not None}
    supported: list[str] = []
    unsupported: list[str] = []
    for token in numbers(answer):
        value = _value(token)
        if value is None or value in asked or (value == value.to_integral() and 0 <= value <= 10):
            continue
        target = supported if _matches(token, seen) else unsupported
        if token not in target:
            target.append(token)
    return Grounding(tuple(supported), tuple(unsupported))


def unbacked_warning(grounding: Grounding | None) -> str:
    """The line shown under an answer with numbers no output of its turn printed ("" if none);
    the terminal, the exports and the web UI (app.js ``showGrounding``) all say this."""
    if grounding is None or not grounding.unsupported:
        return ""
    return "⚠ not found in any output of this turn: " + ", ".join(grounding.unsupported)
