"""What of the conversation a model gets to see.

Two jobs: turn an execution's outputs into the short text a model reads back (head + tail +
size, pointing at the stored full output), and cut the history so it fits the model's context
window (the oldest exchanges go first; the system prompt and the current request stay).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import replace

from .events import ExecutionDone, Output
from .messages import Message
from .models.base import CHARS_PER_TOKEN, message_tokens

# What one execution may put back into the model's context, in characters.
DEFAULT_OUTPUT_CHARS = 2000
REPLY_RESERVE_TOKENS = 1024  # room kept free in the window for the model's reply ...
REPLY_RESERVE_SHARE = 4  # ... or a quarter of the window, if that is less
MIN_TRIMMED_CHARS = 200  # a message trimmed to fit keeps at least this much of its text
TRACEBACK_LINES = 6  # of a traceback the model reads the last lines, which say what went wrong
# A trimmed text keeps its head and its tail, two parts to one: what was asked, how it ended.
HEAD_PARTS, TAIL_PARTS = 2, 1


def input_budget(window: int) -> int:
    """The tokens a model call's messages may use in a ``window``-token context."""
    return window - min(REPLY_RESERVE_TOKENS, window // REPLY_RESERVE_SHARE)


def clip(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, its end marked with "…"."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def trim_text(text: str, limit: int, where: str = "") -> str:
    """Keep the head and tail of ``text`` within about ``limit`` characters."""
    if len(text) <= limit:
        return text
    parts = HEAD_PARTS + TAIL_PARTS
    head = text[: limit * HEAD_PARTS // parts]
    tail = text[-(limit * TAIL_PARTS // parts) :]
    omitted = len(text) - len(head) - len(tail)
    note = f"[... {omitted} characters omitted of {len(text)}"
    note += f"; the full output is stored as {where}]" if where else "]"
    return f"{head}\n{note}\n{tail}"


def _output_text(out: Output) -> str:
    if out.stream in ("stdout", "stderr", "stdin"):  # stdin: the prompt and what was typed
        return out.data
    if out.mime.startswith("image/"):
        label = f"[image saved to {out.path}]" if out.path else "[image]"
        return label + "\n"
    text = out.text or (out.data if out.mime.startswith("text/") else "")
    if out.stream == "error":
        return text + "\n"
    return text.rstrip("\n") + "\n" if text else ""


def format_result(
    outputs: Sequence[Output],
    done: ExecutionDone,
    limit: int = DEFAULT_OUTPUT_CHARS,
    unprinted: str | None = None,
) -> str:
    """The text a model reads after code ran: outputs in order, trimmed, then the status.
    ``unprinted``: the name the code's last line set, named when nothing was printed (small
    models end with ``answer = …`` and then wait for a value that never comes)."""
    body = "".join(_output_text(o) for o in outputs)
    errors = [o for o in outputs if o.stream == "error"]
    if errors and done.error_name:
        short = short_traceback(errors[-1].data)
        body = "".join(_output_text(o) for o in outputs if o.stream != "error") + short + "\n"
    text = trim_text(body, limit, where=f"execution #{done.execution_id}")
    status = _status_line(done)
    if not text.strip():
        text = "(no output: nothing was printed)\n"
        if unprinted and done.status == "ok":
            text = f"(no output: nothing was printed; {unprinted} is set: print({unprinted}))\n"
    return text.rstrip("\n") + ("\n" + status if status else "")


_CELL = re.compile(r"^(Cell In\[\d+\], line \d+|File <[^>]+>:\d+)")  # a frame of the block
_FAILED_LINE = re.compile(r"^-*> ?\d+ ")  # the frame's line that raised


def short_traceback(traceback: str) -> str:
    """What a model reads of a traceback: the line of its own code that raised and the error
    (a library's frames, pandas' for a KeyError, are its last lines, and a small model reads
    their line numbers as results); else the last ``TRACEBACK_LINES`` lines, as for a
    SyntaxError, whose caret is there."""
    lines = traceback.strip().splitlines()
    cells = [i for i, line in enumerate(lines) if _CELL.match(line)]
    if cells:
        start = cells[-1]
        failed = next(
            (line for line in lines[start + 1 :] if _FAILED_LINE.match(line)),
            None,
        )
        ends = [line for line in lines if line.strip()]
        if failed is not None and ends:
            return "\n".join((lines[start], failed.strip(), ends[-1]))
    return "\n".join(lines[-TRACEBACK_LINES:])


def error_text(outputs: Sequence[Output]) -> str:
    """What a block's error printed: its traceback, in full."""
    return "".join(o.data for o in outputs if o.stream == "error")


def _status_line(done: ExecutionDone) -> str:
    if done.status == "ok":
        return ""
    if done.status == "error":
        if done.exit_code is not None:
            return f"[exit status {done.exit_code}]"
        return f"[error: {done.error_name}]" if done.error_name else "[error]"
    if done.status == "denied":
        return "[the user declined to run this code" + (
            f": {done.message}]" if done.message else "]"
        )
    return f"[{done.status}: {done.message}]" if done.message else f"[{done.status}]"


def _groups(messages: Sequence[Message], notes: bool = False) -> list[list[Message]]:
    """Split into droppable groups: an assistant message with its tool results stays whole
    (with ``notes``, so do loci's notes that follow them)."""
    groups: list[list[Message]] = []
    for m in messages:
        if (m.role == "tool" or (notes and m.by == "loci")) and groups:
            groups[-1].append(m)
        else:
            groups.append([m])
    return groups


def fold_fixed(
    messages: Sequence[Message], start: int, failed: Collection[str], ok: Collection[str]
) -> list[Message]:
    """What the model is sent of a request's attempts: from ``messages[start:]`` (the current
    request onwards), each assistant message whose code all failed (tool results in
    ``failed``) is left out with its results and the notes after it, once code that came
    later in the request ran cleanly (a result in ``ok``). A small model then reads the
    working code, not a trail of errors it copies from; the stored history keeps it all."""
    head, groups = list(messages[:start]), _groups(messages[start:], notes=True)
    runs = [_results(g) for g in groups]
    kept: list[Message] = []
    for n, group in enumerate(groups):
        ids = runs[n]
        fixed_later = any(i in ok for later in runs[n + 1 :] for i in later)
        if ids and all(i in failed for i in ids) and fixed_later:
            continue
        kept.extend(group)
    return head + kept


def _results(group: Sequence[Message]) -> list[str]:
    return [m.tool_call_id for m in group if m.role == "tool" and m.tool_call_id]


def fit_history(
    messages: Sequence[Message],
    count: Callable[[str], int],
    budget: int,
    image_tokens: Callable[[str], int] | None = None,
) -> list[Message]:
    """Drop the oldest messages (after the system prompt) until the rest fit ``budget``
    tokens; always keep the system prompt and the last user request. A single message that
    is still too big is trimmed in the middle. ``image_tokens`` counts the images of a model
    that is shown them."""
    system = [m for m in messages[:1] if m.role == "system"]
    rest = list(messages[len(system) :])

    def size(ms: Sequence[Message]) -> int:
        return sum(message_tokens(m, count, image_tokens) for m in ms)

    groups = _groups(rest)
    used = size(system)
    kept: list[list[Message]] = []
    for group in reversed(groups):
        need = size(group)
        if used + need > budget and kept:
            break
        kept.append(group)
        used += need
    out = system + [m for g in reversed(kept) for m in g]
    if used > budget and out:
        over = used - budget
        last = out[-1]
        limit = max(MIN_TRIMMED_CHARS, len(last.content) - over * CHARS_PER_TOKEN)
        out[-1] = replace(last, content=trim_text(last.content, limit))
    # A history must not start with tool results whose call was dropped.
    while len(out) > len(system) and out[len(system)].role == "tool":
        del out[len(system)]
    return out
