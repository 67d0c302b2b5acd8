"""The numbers Python code holds as data, and those it only shows as typed.

Grounding (``loci.grounding``) asks two things of the code that ran:

- ``data_literals``: the numbers of a list, tuple, set or dict display with two numbers or
  more that the code works on (``pd.DataFrame({"year": [2020, 2021]})``, ``plt.bar(names,
  [3.2, 4.1])``): input data, which an answer may restate. One bound to a name counts only
  when the name is read again; one that only goes to ``print`` is shown, not worked on.
- ``typed_numbers``: the numbers the code shows only as it typed them, counted by
  occurrence: numeric constants, and numbers in string constants, whose value reaches
  nothing but what shows it (``print``, ``display``, ``pprint``, ``sys.stdout.write``, the
  last line's value), through f-strings, ``%``/``format`` and ``round``/``str``/``float``, and
  through names read nowhere else (``print(460836225.3)``, ``total = 460836225.3;
  print(f"@total[{total}]")``). Printing a guess does not make it computed. A number the code
  computes with is its input and not counted (``n = 1000; x = rng.normal(size=n)``).

``last_assigned`` names what a silent block's last line set (``answer = …``), for the note
that tells the model to print it.

Only Python is read; code that does not parse, or is too deeply nested to analyse, gives
nothing (nothing is then held against its outputs).
"""

from __future__ import annotations

import ast
import functools
from collections import Counter
from decimal import Decimal

from . import number_text

_DISPLAYS = (ast.List, ast.Tuple, ast.Set, ast.Dict)
_SHOWING = frozenset({"print", "display", "pprint"})  # calls whose arguments are shown
_WRAPPERS = frozenset({"round", "str", "float", "repr", "format"})  # a value, formatted
_PASSING = (ast.Tuple, ast.List, ast.Set, ast.Dict, ast.UnaryOp, ast.JoinedStr, ast.FormattedValue)


def parse(code: str) -> ast.Module | None:
    """``code`` as Python, IPython's ``%magic`` and ``!shell`` lines read as ``pass``; None
    when it does not parse (or is nested too deeply for the parser)."""
    lines = [
        line[: len(line) - len(line.lstrip())] + "pass" if line.lstrip()[:1] in ("%", "!") else line
        for line in code.splitlines()
    ]
    try:
        return ast.parse("\n".join(lines))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


@functools.lru_cache(maxsize=4)
def _read(code: str) -> tuple[ast.Module, _Shows] | None:
    """``code`` parsed and analysed once for both questions an execution asks of it."""
    tree = parse(code)
    return None if tree is None else (tree, _Shows(tree))


def last_assigned(language: str, code: str) -> str | None:
    """The name Python ``code``'s last statement binds (``answer = 6 * 7``), whose value the
    code then shows nowhere unless it prints it; None for another last statement."""
    read = _read(code) if language == "python" else None  # the parse grounding made
    last = read[0].body[-1] if read is not None and read[0].body else None
    targets = getattr(last, "targets", None) or [getattr(last, "target", None)]
    assigns = isinstance(last, (ast.Assign, ast.AugAssign, ast.AnnAssign))
    if assigns and len(targets) == 1 and isinstance(targets[0], ast.Name):
        return targets[0].id
    return None


def data_literals(code: str) -> list[Decimal]:
    """The numbers of every data literal of ``code`` (see the module docstring; [] if it does
    not parse)."""
    read = _read(code)
    if read is None:
        return []
    tree, shows = read
    try:
        found: list[Decimal] = []
        _collect(tree, shows, found)
    except RecursionError:
        return []
    return found


def typed_numbers(language: str, code: str) -> Counter[Decimal]:
    """How many times ``code`` shows each number only as typed, either sign (see the module
    docstring); empty for other languages and for Python that cannot be read."""
    read = _read(code) if language == "python" else None
    if read is None:
        return Counter()
    tree, shows = read
    typed: Counter[Decimal] = Counter()
    try:
        for node in ast.walk(tree):
            if not isinstance(node, ast.Constant) or not shows.only_shown(node):
                continue
            if isinstance(node.value, str):
                found = list(number_text.values(node.value))
            else:
                found = [n] if (n := number(node)) is not None else []
            for v in found:
                typed[v] += 1
                if v:
                    typed[-v] += 1
    except RecursionError:
        return Counter()
    return typed


class _Shows:
    """Which values of a module go nowhere but into what shows them."""

    def __init__(self, tree: ast.Module) -> None:
        self.parent = {c: n for n in ast.walk(tree) for c in ast.iter_child_nodes(n)}
        self.last = tree.body[-1] if tree.body else None  # its value is displayed
        self.reads: dict[str, list[ast.Name]] = {}
        self.changed: set[str] = set()  # names an augmented assignment computes with
        for n in ast.walk(tree):
            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load):
                self.reads.setdefault(n.id, []).append(n)
            elif isinstance(n, ast.AugAssign) and isinstance(n.target, ast.Name):
                self.changed.add(n.target.id)
        self._names: dict[str, bool] = {}

    def only_shown(self, node: ast.AST) -> bool:
        """Whether ``node``'s value goes nowhere but into what shows it."""
        child, up = node, self.parent.get(node)
        while up is not None:
            if isinstance(up, ast.Expr):
                return up is self.last  # a bare line before the last shows nothing
            if isinstance(up, ast.Call):
                if self._shows(up):
                    return child is not up.func
                if not self._formats(up, child):
                    return False  # an argument of a computation
            elif isinstance(up, ast.BinOp):
                if not (isinstance(up.op, ast.Mod) and _is_str(up.left) and child is up.right):
                    return False  # an operand; "%.1f" % x only formats x
            elif isinstance(up, (ast.Assign, ast.AnnAssign)):
                return child is up.value and self._bound_only_shown(up)
            elif not isinstance(up, (*_PASSING, ast.keyword)):
                return False  # an index, a test, a return value, …
            child, up = up, self.parent.get(up)
        return False

    @staticmethod
    def _shows(call: ast.Call) -> bool:
        func = call.func
        if isinstance(func, ast.Name):
            return func.id in _SHOWING
        if not isinstance(func, ast.Attribute):
            return False
        if func.attr == "pprint":
            return True
        stream = func.value
        return (
            func.attr == "write"
            and isinstance(stream, ast.Attribute)
            and stream.attr in ("stdout", "stderr")
            and isinstance(stream.value, ast.Name)
            and stream.value.id == "sys"
        )

    @staticmethod
    def _formats(call: ast.Call, child: ast.AST) -> bool:
        """``round(x, 2)``, ``str(x)``, ``"{}".format(x)``: the call passes ``child`` on."""
        func = call.func
        if isinstance(func, ast.Name) and func.id in _WRAPPERS:
            return bool(call.args) and child is call.args[0]
        if isinstance(func, ast.Attribute) and func.attr == "format" and _is_str(func.value):
            return child is not func
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
            shown = bool(reads) and name not in self.changed
            self._names[name] = shown and all(self.only_shown(r) for r in reads)
        return self._names[name]


def _is_str(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def _collect(node: ast.AST, shows: _Shows, found: list[Decimal]) -> None:
    """Add the numbers of the outermost data literals under ``node`` to ``found``."""
    if isinstance(node, (ast.Assign, ast.AnnAssign)) and _unread(node, shows.reads):
        return
    if isinstance(node, _DISPLAYS):
        leaves: list[Decimal] = []
        _leaves(node, leaves)
        if len(leaves) >= 2 and not shows.only_shown(node):
            found.extend(leaves)
        return
    for child in ast.iter_child_nodes(node):
        _collect(child, shows, found)


def _unread(node: ast.Assign | ast.AnnAssign, reads: dict[str, list[ast.Name]]) -> bool:
    """The assignment binds only plain names and no line reads any of them."""
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    names: list[str] = []
    for target in targets:
        for n in ast.walk(target):
            if isinstance(n, (ast.Attribute, ast.Subscript)):
                return False  # it changes an object the code already holds
            if isinstance(n, ast.Name):
                names.append(n.id)
    return not any(name in reads for name in names)


def _leaves(node: ast.AST, out: list[Decimal]) -> None:
    """The numeric constants under ``node`` (``-3`` as one number), in order."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        inner = number(node.operand)
        if inner is not None:
            out.append(-inner if isinstance(node.op, ast.USub) else inner)
            return
    value = number(node)
    if value is not None:
        out.append(value)
        return
    for child in ast.iter_child_nodes(node):
        _leaves(child, out)


def number(node: ast.AST) -> Decimal | None:
    """The value of a numeric constant (not a bool, not inf, not an int too long to write)."""
    if not isinstance(node, ast.Constant) or isinstance(node.value, bool):
        return None
    if not isinstance(node.value, (int, float)):
        return None
    try:
        value = Decimal(repr(node.value))
    except ValueError:  # an int past Python's 4300-digit limit for str()
        return None
    return value if value.is_finite() else None  # 1e999 is inf


__all__ = ["data_literals", "number", "parse", "typed_numbers"]
