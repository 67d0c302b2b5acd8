"""What an MCP client gets back: session events and stored executions as tool results.

A block's result is what loci's own model would read (``loci.context.format_result``: the
outputs trimmed to head and tail, naming the execution whose full output ``get_output``
fetches), the images it drew as ``ImageContent`` (base64 PNG, as Jupyter sends them), and the
workspace files it wrote; while it runs, its output comes as progress (``Progress``).
``structuredContent`` repeats the facts a program wants: the
conversation, the execution, its status and files. Text passes through loci's sanitiser, so
no escape sequence from the code reaches a client's terminal.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
import anyio.from_thread
from mcp.server.mcpserver import Context
from mcp_types import CallToolResult, ContentBlock, ImageContent, TextContent

from ..events import CodeBlock, Event, ExecutionDone, ExecutionStart, Output
from ..sanitize import clean
from ..store.records import ExecutionRecord

SHOWN_IMAGES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
PROGRESS_S = 1.0


def relative(path: str, workdir: Path) -> str:
    """``path`` as the workspace names it (absolute when it lies outside)."""
    rel = os.path.relpath(path, workdir)
    return path if rel.startswith("..") else rel


def _images(outputs: Sequence[Output]) -> list[ContentBlock]:
    return [
        ImageContent(data=out.data, mime_type=out.mime)
        for out in outputs
        if out.mime in SHOWN_IMAGES and out.data
    ]


def block_result(
    events: Sequence[Event], text: str, workdir: Path, conversation_id: int
) -> CallToolResult:
    """The tool result of one block run through ``Session.execute``: ``events`` as it
    yielded them and ``text``, the result it stored. A pip install it offered is left out
    (but for what it changed); the block's last run is the one reported."""
    block = next((e.id for e in events if isinstance(e, CodeBlock)), "")
    runs = {e.execution_id for e in events if isinstance(e, ExecutionStart) and e.block_id == block}
    done = [e for e in events if isinstance(e, ExecutionDone) and e.execution_id in runs]
    last = done[-1] if done else None
    shown = last.execution_id if last is not None else None
    outputs = [e for e in events if isinstance(e, Output) and e.execution_id == shown]
    files = sorted({relative(f, workdir) for e in done for f in e.files})
    content: list[ContentBlock] = [TextContent(text=clean(text, colour=False))]
    content += _images(outputs)
    if files:
        content.append(TextContent(text="Files written: " + ", ".join(files)))
    status = last.status if last is not None else "denied"
    facts = {
        "conversation_id": conversation_id,
        "execution_id": last.execution_id if last is not None else None,
        "status": status,
        "files": files,
    }
    return CallToolResult(content=content, structured_content=facts, is_error=status != "ok")


class Progress:
    """Shows a running block's output to the client as progress notifications, at most one
    every ``PROGRESS_S`` seconds (each with the output's first line), from the worker thread.
    A client that asked for no progress gets none (the SDK sends nothing without a token)."""

    def __init__(self, ctx: Context[Any, Any]) -> None:
        self.ctx = ctx
        self.outputs = 0
        self.last = time.monotonic()

    def __call__(self, event: Event) -> None:
        if not isinstance(event, Output):
            return
        self.outputs += 1
        now = time.monotonic()
        if now - self.last < PROGRESS_S:
            return
        self.last = now
        lines = (event.text or event.data).strip().splitlines() or [event.mime]
        line = clean(lines[0] if event.mime.startswith("text/") else event.mime, colour=False)
        # progress is advisory: one that cannot be sent (a call cancelled, a client gone)
        # must never stop the block, whose outputs are still to be stored
        with contextlib.suppress(Exception):
            anyio.from_thread.run(self.ctx.report_progress, self.outputs, None, line[:120])


def page(text: str, offset: int, limit: int, more: str) -> str:
    """``limit`` characters of ``text`` from ``offset``, saying how to read on (``more``
    names the call, with ``{offset}`` for where the next page starts)."""
    part = text[offset : offset + limit]
    end = offset + len(part)
    if end < len(text):
        left = len(text) - end
        part += f"\n[... {left} more characters of {len(text)}: {more.format(offset=end)}]"
    return part


def execution_result(record: ExecutionRecord, offset: int, limit: int) -> CallToolResult:
    """A stored execution in full (as ``loci show`` prints it), a page at a time, with its
    images."""
    from ..export import execution_markdown  # nbformat, imported when first needed

    text = clean(execution_markdown(record), colour=False)
    more = f"get_output(execution_id={record.id}, offset={{offset}})"
    content: list[ContentBlock] = [TextContent(text=page(text, offset, limit, more))]
    if offset == 0:
        content += _images(record.outputs)
    return CallToolResult(content=content, structured_content={"status": record.status})
