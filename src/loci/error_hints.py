"""What a failed block's error means, where the kernel's state can tell.

Small models fix an error by guessing. Asked for ``df['num. calls abandoned']`` of a file whose
column is ``'num. calls abandoned '`` (a space at the end, invisible in any listing), a 1.5B
model retries the same name, then ``'num_calls_abandoned'``, and runs out of steps. The
kernel knows the real names: after a ``KeyError`` for a missing column, ``hint`` names the
DataFrame columns nearest to the key, quoted so that a space shows; when none is near, it
lists the columns. An error from text in a numeric computation (``df.corr()`` on a frame
with a country column: "could not convert string to float: 'Switzerland'") is met with the
frame's text columns and the way round them. Nothing else is guessed: other errors get no
hint. Told the name, or shown its code with the name fixed, the 1.5B still sends its failed
code again, so ``renamed_columns`` gives the block loci proposes itself (``loci.code_fixes``),
as it proposes a ``pip install``: the model's code with the missing names written as the frame
has them, where each matches one column as a person reads it (case, spaces, dots, underscores).
"""

from __future__ import annotations

import ast
import contextlib
import difflib
import io
import re
import tokenize
from collections.abc import Callable, Iterable, Sequence

from .events import ExecutionDone
from .kernel_state import KernelState, Variable

MAX_LISTED = 12  # columns listed when none is near the missing one
_TEXT_IN_NUMBERS = re.compile(
    r"could not convert string to float|Cannot perform reduction '\w+' with string dtype"
    r"|unsupported operand type\(s\) for [^:]+: '(?:str|float|int)' and '(?:str|float|int)'"
    r"|can only concatenate str|Could not convert .* to numeric"
)
_TEXT_DTYPES = ("object", "str", "string")


def hint(done: ExecutionDone, state: KernelState | None, traceback: str = "") -> str:
    """One or two lines for the model after ``done`` failed (``traceback``: what the error
    printed), or "" when loci can tell nothing. A KeyError counts only where pandas raised it:
    a dict's missing key is not a column's."""
    frames = _frames(done, state)
    if not frames:
        return ""
    if done.error_name == "KeyError" and "pandas" in traceback:
        return _missing_columns(_keys(done.error_value), frames)[0]
    if done.error_name in ("ValueError", "TypeError") and _TEXT_IN_NUMBERS.search(done.error_value):
        return _text_columns(frames)
    return ""


Renamed = tuple[tuple[str, str], ...]  # each name as typed beside the frame's: ('DIR', ' DIR')


def renamed_columns(
    done: ExecutionDone, state: KernelState | None, traceback: str, code: str
) -> tuple[str, Renamed] | None:
    """``code`` with the column names a pandas KeyError missed written as the frame has them,
    where each matches one column as a person reads it, and each name changed, in the order
    the code has them; else None (loci does not guess)."""
    frames = _frames(done, state)
    if not frames or done.error_name != "KeyError" or "pandas" not in traceback:
        return None
    told, fixes = _missing_columns(_keys(done.error_value), frames)
    return _renamed(code, _resolver(fixes, frames)) if told and fixes else None


def _frames(done: ExecutionDone, state: KernelState | None) -> list[Variable]:
    if done.status != "error" or state is None:
        return []
    return [v for v in state.variables if v.kind == "dataframe" and v.columns]


def _keys(value: str) -> list[str]:
    """The string keys a KeyError names: ``'a'``, ``"['a', 'b']"``, ``"['a'] not in index"``."""
    text = value.strip()
    found = re.search(r"Index\((\[.*?\])", text) or re.match(r"^\"?(\[.*?\])", text)
    if found:
        text = found.group(1)
    try:
        key = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return []
    if isinstance(key, str) and (named := _NOT_FOUND.match(key)):  # a groupby's own message
        return _keys(named.group(1)) if named.group(1)[:1] in "'\"[(" else [named.group(1)]
    keys = key if isinstance(key, (list, tuple)) else [key]
    return [k for k in keys if isinstance(k, str)]


_NOT_FOUND = re.compile(r"^Columns? not found: (.+)$")


def _resolver(fixes: dict[str, str], frames: Sequence[Variable]) -> Callable[[str], str | None]:
    """The column a string of the code means: a key the error named, or any other string that
    no frame has as a column but exactly one column has with a space before or after it (the
    next KeyError, fixed with this one; a value such as ``'male'`` is never a column's name
    with only a space added)."""
    labels = {c for f in frames for c in _labels(f)}

    def resolve(value: str) -> str | None:
        if value in fixes:
            return fixes[value]
        padded = {c for c in labels if c.strip() == value}
        return padded.pop() if value not in labels and len(padded) == 1 else None

    return resolve


def _renamed(code: str, resolve: Callable[[str], str | None]) -> tuple[str, Renamed] | None:
    """``code`` with each string literal ``resolve`` names a column for written as that column,
    or None when none is (the key was built, not typed) or the code does not tokenize."""
    lines = code.splitlines(keepends=True)
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(code).readline))
    except (tokenize.TokenError, SyntaxError):
        return None
    renamed: dict[str, str] = {}
    for tok in reversed(tokens):  # from the end, so the positions before stay right
        if tok.type != tokenize.STRING or tok.start[0] != tok.end[0] or tok.string[:1] not in "'\"":
            continue  # not an f-, b- or r-string, nor one over several lines
        with contextlib.suppress(ValueError, SyntaxError):
            value = ast.literal_eval(tok.string)
            column = resolve(value) if isinstance(value, str) and value else None
            if column is not None:
                row, (start, end) = tok.start[0] - 1, (tok.start[1], tok.end[1])
                lines[row] = lines[row][:start] + repr(column) + lines[row][end:]
                renamed = {value: column, **renamed}  # first in the code first
    fixed = "".join(lines).rstrip()
    return (fixed, tuple(renamed.items())) if fixed != code.rstrip() else None


def _norm(name: str) -> str:
    """A name as a person reads it: case, spaces, dots and underscores left out."""
    return re.sub(r"[\s._\-]+", "", name).casefold()


def _nearest(key: str, columns: Sequence[str]) -> list[str]:
    same = [c for c in columns if _norm(c) == _norm(key)]
    if same:
        return same
    by_norm = {_norm(c): c for c in columns}
    close = difflib.get_close_matches(_norm(key), list(by_norm), n=3, cutoff=0.75)
    return [by_norm[c] for c in close]


def _labels(frame: Variable) -> list[str]:
    return [name for name, _ in frame.columns]


def _missing_columns(keys: Iterable[str], frames: Sequence[Variable]) -> tuple[str, dict[str, str]]:
    """What to say of the keys no frame has, and each key's column where exactly one has the
    same name as a person reads it (``'WINDSPEED'`` for ``' WINDSPEED'``)."""
    lines, fixes = [], {}
    for key in keys:
        holders = [f for f in frames if key in _labels(f)]
        if holders:  # a column of another frame: the code indexed the wrong one
            continue
        for frame in frames:
            near = _nearest(key, _labels(frame))
            if near:
                names = ", ".join(quoted(c) for c in near)
                if len(near) == 1 and _norm(near[0]) == _norm(key):
                    fixes[key] = near[0]
                lines.append(f"No column is named {key!r}; {frame.name} has {names}.")
                break
        else:
            frame = frames[0]
            shown = ", ".join(quoted(c) for c in _labels(frame)[:MAX_LISTED])
            more = ", …" if len(frame.columns) > MAX_LISTED else ""
            lines.append(f"No column is named {key!r}; {frame.name}'s columns: {shown}{more}.")
    return "\n".join(lines), fixes


def quoted(name: str) -> str:
    """``'name'``, saying so when it begins or ends with a space (which no listing shows)."""
    if name != name.strip():
        ends = [w for w, s in (("start", name.lstrip()), ("end", name.rstrip())) if s != name]
        return f"{name!r} (with a space at the {' and the '.join(ends)})"
    return repr(name)


def _text_columns(frames: Sequence[Variable]) -> str:
    for frame in frames:
        text = [c for c, t in frame.columns if t in _TEXT_DTYPES]
        if text:
            shown = ", ".join(repr(c) for c in text[:MAX_LISTED])
            return (
                f"{frame.name} has text columns ({shown}): compute on the numeric ones, "
                f"e.g. {frame.name}.select_dtypes('number'), or pass numeric_only=True."
            )
    return ""
