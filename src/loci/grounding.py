"""Are the numbers in an answer backed by what the turn showed?

``ground(answer, evidence, question)`` finds every number the final reply states and looks for
it in the turn's ``Evidence``. A number counts as supported when some source holds the same
value, allowing for rounding to the precision the answer uses (``3.14`` is supported by
``3.14159``) and for thousands separators; numbers that merely restate the question, and
small counting words like list indices 1-10, are not judged.

Three sources back a number, each because the person can see where it came from:

- ``outputs``: what the turn's executions printed or displayed (the text of every output but
  errors; an image counts by its text rendering, never its base64 bytes), less the numbers
  the code itself wrote out (``typed_numbers``): ``print(460836225.3)`` or
  ``print("@mean[23.5]")`` shows a figure the model typed, and printing a guess does not make
  it computed. A number the code typed counts only when another source shows it.
- ``literals``: the numbers of a *data literal* in Python code whose run ended ok and showed
  something (an output that is not an error, or a file it wrote). A data literal is a list,
  tuple, set or dict display holding at least two numbers (``pd.DataFrame({"year": [2020,
  2021], ...})``, ``plt.bar(names, [3.2, 4.1])``); one bound to a name counts only when that
  name is read again in the same code. Such numbers are the input the code worked on and
  then plotted or tabulated, so restating them is not a claim of computation. A scalar the
  model typed (``x = 42``), a one-number container (``[42]``), data no later line reads,
  and the literals of code that failed or showed nothing back nothing: typing a figure is
  not computing it. The residue this lets through is a deliberate cheat (two made-up figures
  in a list that is then plotted); the code shows it to anyone who looks.
- ``files``: the preview loci showed the model of the files the request names (columns, row
  count, first rows): data the user supplied, which an answer may restate. Only the preview
  counts, not the whole file: a large table holds nearly every short number somewhere, and
  the model saw only the preview without running code.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from .events import Grounding, Output
from .parsing import without_code

_NUMBER = re.compile(r"(?<![\w.])[-−]?\d[\d,]*(?:\.\d+)?(?:[eE][-+]?\d+)?")


_THOUSANDS = re.compile(r"[-−]?\d{1,3}(,\d{3})+(\.\d+)?")


def numbers(text: str) -> list[str]:
    """The numbers written in ``text``, as written (code spans and fences left out)."""
    return [t for m in _NUMBER.finditer(without_code(text)) for t in _split(m.group(0))]


def _split(match: str) -> list[str]:
    """One match of ``_NUMBER`` as the numbers it holds: ``1,234`` is one, ``1,2,3`` three."""
    token = match.rstrip(",")
    if "," in token and not _THOUSANDS.fullmatch(token):
        return [t for t in token.split(",") if t]
    return [token]


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


def among(tokens: Iterable[str], values: Collection[Decimal]) -> list[str]:
    """The numbers of ``tokens`` that one of ``values`` backs (rounding allowed, as ``ground``)."""
    return [t for t in tokens if _matches(t, values)]


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
    seen = {v for t in numbers(text) if (v := _value(t)) is not None} | set(evidence.literals)
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
    code typed blanked out, and the values so blanked (``echoed``: printed, not computed)."""

    texts: list[str]
    echoed: set[Decimal]

    @property
    def computed(self) -> bool:
        """Whether the outputs show a number the code did not type."""
        return any(_NUMBER.search(t) for t in self.texts)


def shown_outputs(language: str, code: str, outputs: Iterable[Output]) -> Shown:
    """The ``output_texts`` of one execution less the numbers its ``code`` typed itself."""
    texts = output_texts(outputs)
    typed = typed_numbers(language, code)
    echoed: set[Decimal] = set()

    def blank(m: re.Match[str]) -> str:
        tokens = _split(m.group(0))
        hit = [t for t in tokens if (v := _value(t)) is not None and v in typed]
        if not hit:
            return m.group(0)
        echoed.update(v for t in hit if (v := _value(t)) is not None)
        if len(tokens) == 1:
            return " "
        return ",".join(" " if part in hit else part for part in m.group(0).split(","))

    if typed:
        texts = [_NUMBER.sub(blank, t) for t in texts]
    return Shown(texts, echoed)


def typed_numbers(language: str, code: str) -> set[Decimal]:
    """The numbers ``code`` shows only as it typed them, either sign: for Python, the numeric
    constants and the numbers in string constants that reach nothing but a ``print``, a
    ``display``, an f-string or a bare expression, directly or through names read nowhere else
    (``print(460836225.3)``, ``total = 460836225.3; print(f"@total[{total}]")``). A number the
    code computes with is its input and not counted (``n = 1000; x = rng.normal(size=n)``;
    ``round(x, 2)``). For other languages, or Python that does not parse, every number in its
    text."""
    tree = _parse(code) if language == "python" else None
    if tree is None:
        tokens = [t for m in _NUMBER.finditer(code) for t in _split(m.group(0))]
        values = {v for t in tokens if (v := _value(t)) is not None}
        return values | {-v for v in values}
    shows = _Shows(tree)
    values = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Constant) or not shows.only_shown(node):
            continue
        if isinstance(node.value, str):
            for m in _NUMBER.finditer(node.value):
                values.update(v for t in _split(m.group(0)) if (v := _value(t)) is not None)
        elif (number := _number(node)) is not None:
            values.add(number)
    return values | {-v for v in values}


_SHOWING = frozenset({"print", "display"})


class _Shows:
    """Which values of a module reach only what shows them (see ``typed_numbers``)."""

    def __init__(self, tree: ast.Module) -> None:
        self.parent = {c: n for n in ast.walk(tree) for c in ast.iter_child_nodes(n)}
        self.reads: dict[str, list[ast.Name]] = {}
        for n in ast.walk(tree):
            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load):
                self.reads.setdefault(n.id, []).append(n)
        self._names: dict[str, bool] = {}

    def only_shown(self, node: ast.AST) -> bool:
        """Whether ``node``'s value goes nowhere but into what shows it."""
        child, up = node, self.parent.get(node)
        while up is not None:
            if isinstance(up, (ast.JoinedStr, ast.FormattedValue, ast.Expr)):
                return True
            if isinstance(up, ast.Call):
                shown = isinstance(up.func, ast.Name) and up.func.id in _SHOWING
                return shown and child is not up.func
            if isinstance(up, ast.keyword):
                child, up = up, self.parent.get(up)  # print(..., sep="1") is print's too
                continue
            if isinstance(up, (ast.Assign, ast.AnnAssign)) and child is up.value:
                return self._bound_only_shown(up)
            if not isinstance(up, (ast.Tuple, ast.List, ast.Set, ast.Dict, ast.UnaryOp)):
                return False  # computed with: an operand, an argument, an index, a test
            child, up = up, self.parent.get(up)
        return False

    def _bound_only_shown(self, assign: ast.Assign | ast.AnnAssign) -> bool:
        targets = assign.targets if isinstance(assign, ast.Assign) else [assign.target]
        if not all(isinstance(t, ast.Name) for t in targets):
            return False  # stored into an object (df["x"] = 5): data the code works on
        return all(self._name_only_shown(t.id) for t in targets if isinstance(t, ast.Name))

    def _name_only_shown(self, name: str) -> bool:
        if name not in self._names:
            self._names[name] = False  # a name read in its own definition is computed with
            reads = self.reads.get(name, [])
            self._names[name] = bool(reads) and all(self.only_shown(r) for r in reads)
        return self._names[name]


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


def data_literals(code: str) -> list[Decimal]:
    """The numbers of every data literal of ``code``: a list, tuple, set or dict display with
    two numbers or more, not bound only to names no line reads ([] if it does not parse)."""
    tree = _parse(code)
    if tree is None:
        return []
    read = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    found: list[Decimal] = []
    _collect(tree, read, found)
    return found


_DISPLAYS = (ast.List, ast.Tuple, ast.Set, ast.Dict)


def _parse(code: str) -> ast.Module | None:
    """``code`` as Python, IPython's ``%magic`` and ``!shell`` lines read as ``pass``."""
    lines = [
        line[: len(line) - len(line.lstrip())] + "pass" if line.lstrip()[:1] in ("%", "!") else line
        for line in code.splitlines()
    ]
    try:
        return ast.parse("\n".join(lines))
    except (SyntaxError, ValueError):
        return None


def _collect(node: ast.AST, read: set[str], found: list[Decimal]) -> None:
    """Add the numbers of the outermost data literals under ``node`` to ``found``."""
    if isinstance(node, (ast.Assign, ast.AnnAssign)) and _unread(node, read):
        return
    if isinstance(node, _DISPLAYS):
        leaves: list[Decimal] = []
        _leaves(node, leaves)
        if len(leaves) >= 2:
            found.extend(leaves)
        return
    for child in ast.iter_child_nodes(node):
        _collect(child, read, found)


def _unread(node: ast.Assign | ast.AnnAssign, read: set[str]) -> bool:
    """The assignment binds only plain names and no line reads any of them."""
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    names: list[str] = []
    for target in targets:
        for n in ast.walk(target):
            if isinstance(n, (ast.Attribute, ast.Subscript)):
                return False  # it changes an object the code already holds
            if isinstance(n, ast.Name):
                names.append(n.id)
    return not any(name in read for name in names)


def _leaves(node: ast.AST, out: list[Decimal]) -> None:
    """The numeric constants under ``node`` (``-3`` as one number), in order."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        inner = _number(node.operand)
        if inner is not None:
            out.append(-inner if isinstance(node.op, ast.USub) else inner)
            return
    value = _number(node)
    if value is not None:
        out.append(value)
        return
    for child in ast.iter_child_nodes(node):
        _leaves(child, out)


def _number(node: ast.AST) -> Decimal | None:
    if not isinstance(node, ast.Constant) or isinstance(node.value, bool):
        return None
    if not isinstance(node.value, (int, float)):
        return None
    value = Decimal(repr(node.value))
    return value if value.is_finite() else None  # 1e999 is inf


def unbacked_warning(grounding: Grounding | None) -> str:
    """The line shown under an answer with numbers no output of its turn printed ("" if none);
    the terminal, the exports and the web UI (app.js ``showGrounding``) all say this."""
    if grounding is None or not grounding.unsupported:
        return ""
    return "⚠ not found in any output of this turn: " + ", ".join(grounding.unsupported)
