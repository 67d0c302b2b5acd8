"""Are the numbers in an answer backed by what the turn showed?

``ground(answer, evidence, question)`` finds every number the final reply states and looks for
it in the turn's ``Evidence``. A number counts as supported when some source holds the same
value, allowing for rounding to the precision the answer uses (``3.14`` is supported by
``3.14159``) and for thousands separators; numbers that merely restate the question, and
small counting words like list indices 1-10, are not judged.

Three sources back a number, each because the person can see where it came from:

- ``outputs``: what the turn's executions printed or displayed (the text of every output but
  errors; an image counts by its text rendering, never its base64 bytes), less the numbers
  the code only showed as it typed them (``loci.code_numbers.typed_numbers``):
  ``print(460836225.3)`` or ``total = 460836225.3; print(f"@total[{total}]")`` shows a figure
  the model typed, and printing a guess does not make it computed. Each typed occurrence
  blanks one printed occurrence, so ``print("expected 5050:", sum(range(101)))`` still
  shows a computed 5050; a typed number counts when another source shows it.
- ``literals``: the numbers of a *data literal* in Python code whose run ended ok and showed
  something (an output that is not an error, or a file it wrote; ``loci.code_numbers``): a
  list, tuple, set or dict display of two numbers or more that the code works on
  (``pd.DataFrame({"year": [2020, 2021], ...})``, ``plt.bar(names, [3.2, 4.1])``), input it
  then plotted or tabulated, so restating it is not a claim of computation. A scalar the
  model typed (``x = 42``), a one-number container (``[42]``), data no later line reads, data
  that only goes to ``print`` (``print({"total": 460836225.3, "n": 12})``), and the literals
  of code that failed or showed nothing back nothing: typing a figure is not computing it.
  The residue this lets through is a deliberate cheat (two made-up figures in a list that is
  then plotted); the code shows it to anyone who looks.
- ``files``: the preview loci showed the model of the files the request names (columns, row
  count, first rows): data the user supplied, which an answer may restate. Only the preview
  counts, not the whole file: a large table holds nearly every short number somewhere, and
  the model saw only the preview without running code.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from .code_numbers import data_literals, typed_numbers
from .events import Grounding, Output
from .number_text import NUMBER, matches, numbers, split, value


def among(tokens: Iterable[str], values: Collection[Decimal]) -> list[str]:
    """The numbers of ``tokens`` that one of ``values`` backs (rounding allowed, as ``ground``)."""
    return [t for t in tokens if matches(t, values)]


@dataclass(frozen=True)
class Evidence:
    """What may back the numbers of an answer (see the module docstring)."""

    outputs: Sequence[str] = ()  # the text of the turn's outputs
    literals: Collection[Decimal] = ()  # data literals of code that showed something
    files: str = ""  # the preview of the files the request names


def ground(answer: str, evidence: Evidence | Sequence[str], question: str = "") -> Grounding:
    """Split the numbers of ``answer`` into those the evidence supports and those it does
    not (a plain list of strings is taken as outputs). Restatements of the question and the
    integers 0-10 are left out of both lists."""
    if not isinstance(evidence, Evidence):
        evidence = Evidence(tuple(evidence))
    text = "\n".join([*evidence.outputs, evidence.files])
    seen = {v for t in numbers(text) if (v := value(t)) is not None} | set(evidence.literals)
    asked = {v for t in numbers(question) if (v := value(t)) is not None}
    supported: list[str] = []
    unsupported: list[str] = []
    for token in numbers(answer):
        number = value(token)
        if (
            number is None
            or number in asked
            or (number == number.to_integral() and 0 <= number <= 10)
        ):
            continue
        target = supported if matches(token, seen) else unsupported
        if token not in target:
            target.append(token)
    return Grounding(tuple(supported), tuple(unsupported))


def output_texts(outputs: Iterable[Output]) -> list[str]:
    """The text of each output that may back a number: errors left out, images by their
    text rendering only (base64 is full of digit runs that match numbers by chance)."""
    return [
        o.text if o.mime.startswith("image/") else (o.text or o.data)
        for o in outputs
        if o.stream != "error"
    ]


@dataclass(frozen=True)
class Shown:
    """What one execution's outputs show for grounding: their ``texts`` with the numbers the
    code only typed blanked out, and the values so blanked (``echoed``: printed, not
    computed)."""

    texts: list[str]
    echoed: set[Decimal]

    @property
    def computed(self) -> bool:
        """Whether the outputs show a number the code did not type."""
        return any_number(self.texts)


def any_number(texts: Iterable[str]) -> bool:
    """Whether one of ``texts`` holds a number."""
    return any(NUMBER.search(t) for t in texts)


def shown_outputs(language: str, code: str, outputs: Iterable[Output]) -> Shown:
    """The ``output_texts`` of one execution, each number the ``code`` only typed blanked
    once per time it typed it (to the precision printed: ``f"{x:,.0f}"`` of a typed x)."""
    texts = output_texts(outputs)
    if not any_number(texts):
        return Shown(texts, set())  # nothing to blank: the code is not read
    typed = typed_numbers(language, code)
    echoed: set[Decimal] = set()

    def blank(token: str) -> bool:
        left = [v for v, n in typed.items() if n > 0]
        exact = value(token)
        hit = exact if exact in left else next((v for v in left if matches(token, [v])), None)
        if hit is None:
            return False
        typed[hit] -= 1
        echoed.add(hit)
        return True

    def replace(m: re.Match[str]) -> str:
        parts = split(m.group(0))
        hit = [blank(t) for t in parts]
        if not any(hit):
            return m.group(0)
        if len(parts) == 1:
            return " "
        hits = iter(hit)  # the pieces split kept: all but empty ones, in order
        return ",".join(" " if piece and next(hits) else piece for piece in m.group(0).split(","))

    if typed:
        texts = [NUMBER.sub(replace, t) for t in texts]
    return Shown(texts, echoed)


def shown_literals(
    language: str, code: str, status: str, outputs: Sequence[Output], files: Sequence[str] = ()
) -> list[Decimal]:
    """The numbers of the data literals of ``code`` when it is Python whose run ended ok and
    showed something (an output other than an error, or a file it wrote); [] otherwise."""
    if language != "python" or status != "ok":
        return []
    if not files and all(o.stream == "error" for o in outputs):
        return []
    return data_literals(code)


def unbacked_warning(grounding: Grounding | None) -> str:
    """The line shown under an answer with numbers no output of its turn printed ("" if none);
    the terminal, the exports and the web UI (app.js ``showGrounding``) all say this."""
    if grounding is None or not grounding.unsupported:
        return ""
    return "⚠ not found in any output of this turn: " + ", ".join(grounding.unsupported)


__all__ = [
    "Evidence",
    "Shown",
    "among",
    "any_number",
    "data_literals",
    "ground",
    "numbers",
    "output_texts",
    "shown_literals",
    "shown_outputs",
    "typed_numbers",
    "unbacked_warning",
]
