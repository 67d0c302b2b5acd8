"""Files the user mentions, shown to the model up front.

A small model given "analyse sales.csv" guesses column names and gets them wrong; one that
sees the header, a few rows and the size does not. ``describe_mentioned(text, workdir)``
finds paths in a request that name existing files (absolute, or relative to the workspace)
and returns a compact preview of each: tabular files (CSV, TSV) as columns with a guessed
type and the first rows, other text files as their first lines, anything else as its size.
``describe_files`` does the same for a list, naming without describing those the sandbox
hides from the code.
Reads at most a few kilobytes of each file.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Mapping
from pathlib import Path

MAX_FILES = 3
_HEAD_BYTES = 16_384
_LONGEST_LINE = 2000  # a longer line of a request is not searched for file names
_HASH_CHUNK = 1 << 20  # bytes read at a time
_SAMPLE_ROWS = 3  # rows of a table shown
_LISTING_CHARS = 1500  # the column listing of a wide table is cut here
_HEAD_LINES = 5  # lines of a text file shown ...
_LINE_CHARS = 200  # ... each cut here
# Chinese and Japanese text puts no space around a name: its punctuation (U+3000-303F,
# full-width forms U+FF00-FFEF) and its characters (U+4E00-9FFF) end and begin one too.
_WIDE = "\u3000-\u303f\uff00-\uffef\u4e00-\u9fff"
_EXT_END = re.compile(rf"\.[A-Za-z][A-Za-z0-9]{{0,4}}(?=$|[\s\"'`),;:?!{_WIDE}]|\.(?:\s|$))")
_STARTS = " \"'`("
_WIDE_START = re.compile(f"[{_WIDE}]")
_TABULAR = {".csv": ",", ".tsv": "\t"}
_TEXT = {".txt", ".json", ".jsonl", ".md", ".log", ".xml", ".yaml", ".yml", ".py", ".sql"}


def mentioned_files(text: str, workdir: Path, also: Path | None = None) -> list[Path]:
    """Existing files named in ``text``, in order of mention, at most MAX_FILES. Names may
    contain spaces: for each place an extension ends, every possible start is tried.
    Relative names are looked for in ``workdir``, then in ``also`` (where loci was started,
    when that is not the workspace)."""
    found: list[Path] = []
    bases = [workdir] if also is None else [workdir, also]
    for line in text.splitlines():
        if len(line) > _LONGEST_LINE:
            continue
        for m in _EXT_END.finditer(line):
            path = _existing(line, m.end(), bases)
            if path is not None and path not in found:
                found.append(path)
    return found[:MAX_FILES]


def _existing(line: str, end: int, bases: list[Path]) -> Path | None:
    starts = [0] + [
        i + 1 for i, ch in enumerate(line[:end]) if ch in _STARTS or _WIDE_START.match(ch)
    ]
    for start in starts:
        raw = line[start:end].strip(_STARTS)
        if not raw:
            continue
        given = Path(raw).expanduser()
        for path in [given] if given.is_absolute() else [base / given for base in bases]:
            try:
                if path.is_file():
                    return path
            except OSError:
                continue
    return None


def _guess(values: list[str]) -> str:
    filled = [v for v in values if v.strip()]
    if not filled:
        return "empty"
    try:
        for v in filled:
            int(v)
        return "int"
    except ValueError:
        pass
    try:
        for v in filled:
            float(v)
        return "float"
    except ValueError:
        return "text"


def _count_lines(path: Path) -> int:
    newlines = returns = 0
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(_HASH_CHUNK), b""):
            newlines += chunk.count(b"\n")
            returns += chunk.count(b"\r")
    return newlines or returns  # old Mac files end lines with \r alone


def _tabular(path: Path, head: str, delimiter: str) -> str:
    rows = list(csv.reader(head.splitlines(), delimiter=delimiter))
    if len(rows) > 1 and head and not head.endswith(("\n", "\r")):
        rows = rows[:-1]  # the last row may be cut
    if not rows:
        return f"{path}: empty"
    header, body = rows[0], rows[1:]
    columns = []
    for i, name in enumerate(header):
        kind = _guess([r[i] for r in body if i < len(r)])
        shown_name = repr(name) if name != name.strip() else name  # a space no listing shows
        columns.append(f"{shown_name} ({kind})")
    n = max(_count_lines(path) - 1, 0)
    shown = "\n".join(delimiter.join(r) for r in [header, *body[:_SAMPLE_ROWS]])
    listing = ", ".join(columns)
    if len(listing) > _LISTING_CHARS:
        listing = listing[:_LISTING_CHARS] + f", … ({len(header)} columns)"
    return f"{path}: about {n} rows, {len(header)} columns: {listing}\nFirst rows:\n{shown}"


def describe(path: Path) -> str:
    """A few lines that tell a model what ``path`` holds."""
    size = path.stat().st_size
    suffix = path.suffix.lower()
    if suffix not in _TABULAR and suffix not in _TEXT:
        return f"{path}: {size} bytes"
    with path.open("rb") as f:
        head = f.read(_HEAD_BYTES).decode("utf-8-sig", errors="replace")
    if suffix in _TABULAR:
        try:
            return _tabular(path, head, _TABULAR[suffix])
        except csv.Error:
            pass
    lines = head.splitlines()[:_HEAD_LINES]
    return f"{path}: {size} bytes; first lines:\n" + "\n".join(line[:_LINE_CHARS] for line in lines)


def describe_mentioned(text: str, workdir: Path) -> str:
    """Previews of the files ``text`` mentions, or "" when it mentions none."""
    return describe_files(mentioned_files(text, workdir))


def describe_files(paths: list[Path], hidden: Mapping[Path, str] | None = None) -> str:
    """Previews of ``paths``. ``hidden`` names those the code cannot open, with why: they
    are never described, only named with the reason, so the model is not told about a
    file its code cannot read."""
    parts = []
    for path in paths:
        if hidden and hidden.get(path):
            parts.append(f"{path}: the code cannot open this file: {hidden[path]}")
            continue
        try:
            parts.append(describe(path))
        except OSError:
            continue
    return "\n\n".join(parts)
