"""One model call: stream the reply as events and say what it asked to run.

A model with native tool calls names its code in ``ToolCallChunk``s. One without writes fenced
blocks; the stream is cut as soon as the first runnable block closes (before a small model
invents that block's output), and the reply is kept only up to that block. A reply that
starts to repeat itself is cut too.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import ModelError
from .events import Event, Notice, TextDelta, Usage
from .messages import Message, ToolCall, ToolSpec
from .models.base import Model, ModelChunk, TextChunk, ToolCallChunk, UsageChunk
from .parsing import (
    Fenced,
    FenceParser,
    Resolve,
    block_language,
    cut_after_last_fence,
    looping_tail,
)

LOOP_CHECK_CHARS = 64  # a streaming reply is checked for a loop once per this many characters


@dataclass(frozen=True)
class Reply:
    """What one model call gave: its text (cut after the block that will run), the code it
    asked to run, the tokens it cost, and whether it was stopped (an error or a Stop)."""

    text: str
    calls: tuple[ToolCall, ...]
    usage: Usage
    stopped: bool


def stream_reply(
    model: Model,
    messages: list[Message],
    cancel: threading.Event,
    resolve: Resolve,
    new_id: Callable[[], str],
    prefill: str = "",
    tools: Sequence[ToolSpec] = (),
) -> Generator[Event, None, Reply]:
    """Yield the reply's TextDeltas (and Notices); return the ``Reply``. ``resolve`` maps a
    fence's tag to a kernel's language; ``new_id`` names a fenced block's tool call;
    ``tools`` are offered to a tool-call model beside ``execute``."""
    parser = FenceParser()
    text = ""
    calls: list[ToolCall] = []
    usage = Usage()
    stopped = False
    chunks: Iterator[ModelChunk] | None = None
    try:
        chunks = _open(model, messages, cancel, prefill, tools)
        for chunk in chunks:
            if isinstance(chunk, TextChunk):
                text += chunk.text
                yield TextDelta(chunk.text)
                if not model.supports_tools and _runnable(parser.feed(chunk.text), resolve):
                    break  # run the first block before the model invents its output
                if _checkpoint(text, chunk.text) and looping_tail(text):
                    yield Notice("warning", "the model kept repeating itself; stopped it")
                    break
            elif isinstance(chunk, ToolCallChunk):
                calls.append(chunk.call)
            elif isinstance(chunk, UsageChunk):
                usage = chunk.usage
    except ModelError as exc:
        yield Notice("error", exc.message)
        stopped = True
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()  # stops generation and closes the network stream
    if usage.total_tokens == 0:
        usage = Usage(0, model.count_tokens(text))
    if not calls and not cancel.is_set():
        calls = _fenced_calls(parser, resolve, new_id)
    if calls and not model.supports_tools:
        text = cut_after_last_fence(text, resolve)
    return Reply(text, tuple(calls), usage, stopped or cancel.is_set())


def _open(
    model: Model,
    messages: list[Message],
    cancel: threading.Event,
    prefill: str,
    tools: Sequence[ToolSpec],
) -> Iterator[ModelChunk]:
    """Start the stream; only what a model takes is passed (a model without ``prefill``
    support, or a text-only one given no tools, is called as before)."""
    extra: dict[str, Any] = {}
    if prefill and getattr(model, "supports_prefill", False):
        extra["prefill"] = prefill  # a PrefillModel
    if tools and model.supports_tools:
        extra["tools"] = tuple(tools)
    return model.stream(messages, cancel=cancel, **extra)


def _checkpoint(text: str, added: str) -> bool:
    """Whether the text just added crossed a ``LOOP_CHECK_CHARS`` boundary."""
    return len(text) // LOOP_CHECK_CHARS != (len(text) - len(added)) // LOOP_CHECK_CHARS


def _runnable(blocks: Sequence[Fenced], resolve: Resolve) -> bool:
    return any(block_language(b, resolve) for b in blocks)


def _fenced_calls(
    parser: FenceParser, resolve: Resolve, new_id: Callable[[], str]
) -> list[ToolCall]:
    parser.finish()
    for block in parser.blocks:
        language = block_language(block, resolve)
        if language and block.code.strip():
            return [ToolCall(new_id(), language, block.code)]  # one block per step
    return []
