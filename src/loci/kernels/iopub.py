"""Jupyter iopub messages → loci events, as a pure function.

``message_to_events(msg)`` takes one iopub message (a plain dict, already filtered by the
parent ``msg_id`` of the execution) and returns the ``Output`` events it stands for:

    stream                              → Output(stream="stdout" | "stderr")
    execute_result                      → Output(stream="result")
    display_data, update_display_data   → Output(stream="display")
    error                               → Output(stream="error"), traceback without ANSI codes
    clear_output, status, execute_input, comm_* …  → nothing

Rich data is reduced to the one best MIME type (``pick_mime``); ``Output.text`` always carries a
plain-text rendering of it, so a front end without images or HTML still has something to show.
``status: idle`` ends an execution; the caller (``jupyter.py``, ``gateway.py``) watches for it,
and keeps the ``error`` contents in a ``Request``, whose ``result`` is the block's KernelResult.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from ..events import KernelResult, Output, OutputStream

__all__ = [
    "MIME_PREFERENCE",
    "Request",
    "html_to_text",
    "message_to_events",
    "pick_mime",
    "strip_ansi",
]

MIME_PREFERENCE = (
    "image/png",
    "image/jpeg",
    "image/svg+xml",
    "text/html",
    "application/json",
    "text/markdown",
    "text/plain",
)

_ANSI = re.compile(r"\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")


def strip_ansi(text: str) -> str:
    """``text`` without terminal escape sequences (colours, cursor moves, hyperlinks)."""
    return _ANSI.sub("", text)


def message_to_events(msg: Mapping[str, Any]) -> list[Output]:
    """The loci events for one iopub message (``[]`` for those that produce none)."""
    kind = msg.get("msg_type") or msg.get("header", {}).get("msg_type", "")
    content: Mapping[str, Any] = msg.get("content") or {}
    if kind == "stream":
        name: OutputStream = "stderr" if content.get("name") == "stderr" else "stdout"
        return [Output(stream=name, data=_as_text(content.get("text", "")))]
    if kind == "execute_result":
        return [_rich("result", content.get("data") or {})]
    if kind in ("display_data", "update_display_data"):
        return [_rich("display", content.get("data") or {})]
    if kind == "error":
        return [_error(content)]
    return []


@dataclass
class Request:
    """One execute_request (``msg_id``; None if it could not be sent), the contents of the
    ``error`` messages that answered it, and when the kernel was seen to begin it."""

    msg_id: str | None
    errors: list[dict[str, Any]] = field(default_factory=list)
    began: float | None = None  # time.monotonic() when its execute_input was seen

    def begun(self, ago: float = 0.0) -> bool:
        """Whether the kernel began running it at least ``ago`` seconds ago."""
        return self.began is not None and time.monotonic() - self.began >= ago

    def see(self, msg: Mapping[str, Any]) -> None:
        """Note what one of its own iopub messages tells of it: ``execute_input``, begun."""
        if msg.get("msg_type") == "execute_input" and self.began is None:
            self.began = time.monotonic()

    def result(self) -> KernelResult:
        """The block's result once idle: ok, or the last error's name and value."""
        if not self.errors:
            return KernelResult(status="ok")
        last = self.errors[-1]
        return KernelResult(
            status="error",
            error_name=str(last.get("ename", "")),
            error_value=str(last.get("evalue", "")),
        )


def _error(content: Mapping[str, Any]) -> Output:
    ename = str(content.get("ename", "Error"))
    evalue = str(content.get("evalue", ""))
    traceback = "\n".join(strip_ansi(_as_text(line)) for line in content.get("traceback") or [])
    summary = f"{ename}: {evalue}" if evalue else ename
    return Output(stream="error", data=traceback or summary, text=summary)


def _rich(stream: OutputStream, data: Mapping[str, Any]) -> Output:
    mime, value, text = pick_mime(data)
    return Output(stream=stream, data=value, mime=mime, text=text)


def pick_mime(data: Mapping[str, Any]) -> tuple[str, str, str]:
    """The best ``(mime, data, text)`` of a Jupyter MIME bundle.

    ``data`` is the value as a string (base64 for PNG/JPEG, JSON text for application/json);
    ``text`` is a plain-text rendering: the bundle's text/plain, else one derived from ``data``.
    """
    plain = _as_text(data["text/plain"]) if "text/plain" in data else None
    for mime in MIME_PREFERENCE:
        if mime not in data:
            continue
        raw = data[mime]
        if mime == "application/json":
            value = raw if isinstance(raw, str) else json.dumps(raw, indent=1, ensure_ascii=False)
        else:
            value = _as_text(raw)
        if plain is not None:
            return mime, value, plain
        if mime == "text/html":
            return mime, value, html_to_text(value)
        if mime.startswith("image/"):
            return mime, value, f"[{mime} image]"
        return mime, value, value
    others = ", ".join(sorted(data)) or "nothing"
    note = f"[output of type {others}, not shown]"
    return "text/plain", note, note


def _as_text(value: Any) -> str:
    """Jupyter sometimes splits strings into lists of lines (nbformat style)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(str(part) for part in value)
    return str(value)


_BLOCK_TAGS = frozenset(
    [
        "p",
        "div",
        "br",
        "li",
        "ul",
        "ol",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "pre",
        "table",
        "thead",
        "tbody",
        "tfoot",
        "caption",
        "hr",
        "section",
        "article",
        "blockquote",
    ]
)
_SKIP_TAGS = frozenset({"script", "style", "head", "title"})


class _TextExtractor(HTMLParser):
    """Collects the text of an HTML fragment: cells separated by tabs, rows by newlines."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0
        self._cells_in_row = 0

    def _newline(self) -> None:
        if self.parts and not self.parts[-1].endswith("\n"):
            self.parts.append("\n")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self._skip += 1
        elif tag == "tr":
            self._newline()
            self._cells_in_row = 0
        elif tag in ("td", "th"):
            if self._cells_in_row:
                self.parts.append("\t")
            self._cells_in_row += 1
        elif tag in _BLOCK_TAGS:
            self._newline()

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self._skip = max(0, self._skip - 1)
        elif tag == "tr" or tag in _BLOCK_TAGS:
            self._newline()

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        text = re.sub(r"\s+", " ", data)
        if not text.strip():
            return
        if not self.parts or self.parts[-1].endswith(("\n", "\t")):
            text = text.lstrip()
        self.parts.append(text)


def html_to_text(html: str) -> str:
    """A plain-text rendering of HTML: tags dropped, table cells tab-separated, one row a line."""
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    lines = (line.rstrip(" ") for line in "".join(parser.parts).split("\n"))
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip("\n")
