"""Streaming-safe extraction of code from model output.

Models without native tool calls write code in Markdown fences. ``FenceParser`` is fed the
reply piece by piece as it streams and reports each fenced block the moment its closing fence
arrives, so the session can stop a small model before it invents the output of its own code.

Rules (CommonMark's, simplified): a fence is a line starting (after up to 3 spaces) with 3 or
more backticks or tildes, optionally followed by an info string whose first word is the
language; it closes on a line of the same character, at least as long, and nothing else. So a
four-backtick fence can contain triple-backtick lines. A fence still open when the reply ends
is closed by ``finish()``.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from dataclasses import dataclass

_OPEN = re.compile(r"^ {0,3}(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^`\n]*?)[ \t]*$")


@dataclass(frozen=True)
class Fenced:
    language: str  # the info string's first word, lower-cased ("" when none)
    code: str
    closed: bool  # False when the reply ended inside the fence


class FenceParser:
    """Feed text as it arrives; collect complete fenced blocks."""

    def __init__(self) -> None:
        self._buf = ""  # the current, not yet complete line
        self._fence: str | None = None
        self._lang = ""
        self._lines: list[str] = []
        self.blocks: list[Fenced] = []

    def feed(self, text: str) -> list[Fenced]:
        """Add streamed text; return the blocks that this text completed."""
        self._buf += text
        done: list[Fenced] = []
        while "\n" in self._buf:
            line, self._buf = self._buf.split("\n", 1)
            block = self._line(line)
            if block is not None:
                done.append(block)
        return done

    def finish(self) -> list[Fenced]:
        """The reply ended: handle the last line and close an open fence."""
        done: list[Fenced] = []
        if self._buf:
            line, self._buf = self._buf, ""
            block = self._line(line)
            if block is not None:
                done.append(block)
        if self._fence is not None:
            block = Fenced(self._lang, "\n".join(self._lines), closed=False)
            self._fence = None
            if block.code.strip():
                self.blocks.append(block)
                done.append(block)
        return done

    @property
    def in_fence(self) -> bool:
        return self._fence is not None

    def _line(self, line: str) -> Fenced | None:
        line = line.rstrip("\r")
        if self._fence is None:
            m = _OPEN.match(line)
            if m:
                self._fence = m.group("fence")
                info = m.group("info").strip()
                self._lang = info.split()[0].lower() if info else ""
                self._lines = []
            return None
        stripped = line.strip()
        if stripped and set(stripped) == {self._fence[0]} and len(stripped) >= len(self._fence):
            block = Fenced(self._lang, "\n".join(self._lines), closed=True)
            self._fence = None
            self.blocks.append(block)
            return block
        self._lines.append(line)
        return None


def extract_blocks(text: str) -> list[Fenced]:
    """All fenced blocks of a complete reply."""
    parser = FenceParser()
    parser.feed(text)
    parser.finish()
    return list(parser.blocks)


def looping_tail(text: str, *, min_span: int = 240, min_repeats: int = 8) -> bool:
    """Whether ``text`` ends in the same piece repeated over and over (a small model stuck in
    a loop): some unit of 1-120 characters repeated at least ``min_repeats`` times, covering
    at least ``min_span`` characters."""
    if len(text) < min_span:
        return False
    for size in range(1, 121):
        unit = text[-size:]
        if not unit.strip():
            continue
        needed = max(min_repeats, -(-min_span // size))
        if len(text) < size * needed:
            break
        if text.endswith(unit * needed):
            return True
    return False


Resolve = Callable[[str | None], str | None]  # a fence's tag -> the kernel that runs it


def block_language(block: Fenced, resolve: Resolve) -> str | None:
    """The kernel a fenced block runs in, or None for a block that is not code to run.
    Small models often fence plain text (their answer, an echoed output) without a tag, so an
    untagged block counts as Python only when it parses as Python."""
    if block.language:
        return resolve(block.language)
    try:
        ast.parse(block.code)
    except (SyntaxError, ValueError):
        return None
    return "python"


def cut_after_last_fence(text: str, resolve: Resolve) -> str:
    """Keep the reply up to the end of the code block that will run (drop invented output)."""
    parser = FenceParser()
    kept: list[str] = []
    for line in text.split("\n"):
        kept.append(line)
        if any(block_language(b, resolve) for b in parser.feed(line + "\n")):
            break
    return "\n".join(kept).rstrip()


_CODE = re.compile(r"```.*?(```|$)|`[^`\n]*`", re.S)


def without_code(text: str) -> str:
    """``text`` with its fenced blocks and inline code spans blanked out (prose only)."""
    return _CODE.sub(" ", text)
