"""A failed block loci can fix for certain, and the fixed block it proposes.

Small models do not act on what they are told about an error: told the right column name,
or shown their code fixed, a 1.5B model sends its failed block again. So where the fix is
certain, loci proposes the block itself, approved like any code (``steps``), as it proposes a
``pip install``. Two errors qualify:

- a pandas ``KeyError`` whose missing names each match one column of a frame the kernel holds
  as a person reads it (``'DIR'`` for ``' DIR'``; ``error_hints.renamed_columns``);
- a call given a keyword argument its function does not take
  (``LinearRegression.__init__() got an unexpected keyword argument 'max_iter'``): the call
  cannot run with it, so the block is proposed without it, and the notice says which.

Anything else is left to the model: loci does not guess.
"""

from __future__ import annotations

import ast
import re
from typing import NamedTuple

from . import error_hints
from .events import ExecutionDone
from .kernel_state import KernelState

_UNEXPECTED = (
    re.compile(r"(?P<callee>[\w.<>]+)\(\) got an unexpected keyword argument '(?P<kw>\w+)'"),
    re.compile(r"'(?P<kw>\w+)' is an invalid keyword argument for (?P<callee>[\w.<>]+)\(\)"),
)


class Fix(NamedTuple):
    """The failed block fixed: the code, what was wrong (for the user, in the notice) and
    what loci changed (``"with the column names fixed"``: for both)."""

    code: str
    wrong: str
    change: str

    def notice(self) -> str:
        return f"{self.wrong}; proposing the code {self.change}"


def fixed_code(
    done: ExecutionDone, state: KernelState | None, traceback: str, code: str
) -> Fix | None:
    """The block loci proposes after ``code`` failed with ``done``, or None."""
    if done.status != "error":
        return None
    renamed = error_hints.renamed_columns(done, state, traceback, code)
    if renamed is not None:
        fixed, names = renamed
        told = "; ".join(f"{typed!r} is {error_hints.quoted(col)}" for typed, col in names)
        return Fix(fixed, f"a column name was wrong: {told}", "with the column names fixed")
    if done.error_name == "TypeError":
        return _without_keyword(done.error_value, code)
    return None


def _without_keyword(error: str, code: str) -> Fix | None:
    """``code`` without the keyword argument the error says its callee does not take, in
    every call of that name; None when no call of the code has it as typed."""
    found = next((m for m in (p.search(error) for p in _UNEXPECTED) if m), None)
    if found is None:
        return None
    parts = found.group("callee").split(".")
    callee = parts[-2] if parts[-1] == "__init__" and len(parts) > 1 else parts[-1]
    keyword = found.group("kw")
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None
    found_in = [
        (k, span)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and _name(node.func) == callee
        for k, span in [_keyword_span(node, keyword)]
        if k is not None
    ]
    spans = [span for _, span in found_in]
    spans = [s for s in spans if not any(o != s and o[0] <= s[0] and s[1] <= o[1] for o in spans)]
    if not spans:  # (a call inside the argument loci drops goes with it)
        return None
    source = code.encode()
    starts = _line_starts(source)
    shown = ast.get_source_segment(code, found_in[0][0]) or keyword
    for (row, col), (end_row, end_col) in sorted(spans, reverse=True):
        begin, end = starts[row - 1] + col, starts[end_row - 1] + end_col
        source = source[:begin] + source[end:]
    fixed = source.decode().rstrip()
    wrong = f"{callee}() takes no argument {keyword}"
    return Fix(fixed, wrong, f"without {shown}")


def _name(func: ast.expr) -> str:
    if isinstance(func, ast.Name):
        return func.id
    return func.attr if isinstance(func, ast.Attribute) else ""


Span = tuple[tuple[int, int], tuple[int, int]]  # (line, byte column) of the start and the end


def _keyword_span(call: ast.Call, keyword: str) -> tuple[ast.keyword | None, Span]:
    """``keyword=value`` in ``call`` (None if it has none) and where it is, with the comma that
    separates it: from the end of the argument before it, else up to the start of the next."""
    items: list[ast.expr | ast.keyword] = sorted(
        [*call.args, *call.keywords], key=lambda n: (n.lineno, n.col_offset)
    )
    for i, item in enumerate(items):
        if not (isinstance(item, ast.keyword) and item.arg == keyword):
            continue
        if i > 0:
            return item, (_end(items[i - 1]), _end(item))
        if i + 1 < len(items):
            return item, (_start(item), _start(items[i + 1]))
        return item, (_start(item), _end(item))  # the only argument (a trailing comma may stay)
    return None, ((0, 0), (0, 0))


def _start(node: ast.expr | ast.keyword) -> tuple[int, int]:
    return node.lineno, node.col_offset


def _end(node: ast.expr | ast.keyword) -> tuple[int, int]:
    return node.end_lineno or node.lineno, node.end_col_offset or node.col_offset


def _line_starts(source: bytes) -> list[int]:
    starts, at = [], 0
    for line in source.splitlines(keepends=True):
        starts.append(at)
        at += len(line)
    return [*starts, at]
