"""The Model protocol: one small interface every model backend implements.

``stream(messages)`` yields ``ModelChunk`` values as the reply arrives: text pieces, complete
tool calls (native tool-call models), and usage at the end. A tool-call model offers the
``execute`` tool, and the ``tools`` it is given besides (the MCP servers' tools); a call to
one of those comes back as a ``ToolCall`` of language ``mcp``. Text-only models ignore
``tools``. The session never branches on the
provider. Adapters translate their SDK's errors into ``loci.errors.ModelError`` subclasses in
one place, and stop early (closing the network stream) when ``cancel`` is set.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Protocol, runtime_checkable

from ..errors import MissingExtraError
from ..events import Usage
from ..messages import Message, ToolCall, ToolSpec
from .images import PER_MESSAGE


@dataclass(frozen=True)
class TextChunk:
    text: str


@dataclass(frozen=True)
class ToolCallChunk:
    call: ToolCall


@dataclass(frozen=True)
class UsageChunk:
    usage: Usage


ModelChunk = TextChunk | ToolCallChunk | UsageChunk


@runtime_checkable
class Model(Protocol):
    name: str  # the spec the user gave, e.g. "openai:gpt-4.1-mini", "local"
    context_window: int  # tokens the model can see at once
    supports_tools: bool  # True: offer the execute tool; False: fenced code blocks

    def stream(
        self,
        messages: Sequence[Message],
        *,
        cancel: threading.Event | None = None,
        tools: Sequence[ToolSpec] = (),
    ) -> Iterator[ModelChunk]: ...

    def count_tokens(self, text: str) -> int:
        """An estimate is fine for remote models; the local model counts exactly."""
        ...


def close_model(model: Model) -> None:
    """Release what a model holds (an HTTP connection pool, a loaded GGUF), if it holds
    anything. ``close`` is optional: a scripted model has nothing to release."""
    close = getattr(model, "close", None)
    if callable(close):
        close()


def import_extra(module: str, what: str, extra: str, package: str) -> ModuleType:
    """``module`` from an optional extra, imported now; MissingExtraError (naming the
    install command) when it is not installed."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(what, extra, package) from exc


CHARS_PER_TOKEN = 4  # roughly, for English text and code
MESSAGE_TOKENS = 4  # what a message's role and framing cost beyond its text
_WIDE = 0x2E80  # from here on (CJK and beyond) a character is about a token of its own


def estimate_tokens(text: str) -> int:
    """A cheap token estimate: ~4 characters per token, CJK characters one each."""
    wide = sum(1 for ch in text if ord(ch) > _WIDE)
    return (len(text) - wide) // CHARS_PER_TOKEN + wide + 1


def message_tokens(
    message: Message,
    count: Callable[[str], int] = estimate_tokens,
    image_tokens: Callable[[str], int] | None = None,
) -> int:
    """What one message costs in a prompt: its text, its code, its framing, and (with
    ``image_tokens``, for a model that sees them) the images it may show."""
    text = count(message.content) + MESSAGE_TOKENS + sum(count(c.code) for c in message.tool_calls)
    if image_tokens is None:
        return text
    return text + sum(image_tokens(p) for p in message.images[:PER_MESSAGE])


@runtime_checkable
class VisionModel(Model, Protocol):
    """A model that may be shown images (``vision``), and says what one costs."""

    vision: bool

    def image_tokens(self, path: str) -> int:
        """The tokens the image at ``path`` costs in a prompt (an estimate)."""
        ...


def image_counter(model: Model) -> Callable[[str], int] | None:
    """How ``model`` counts an image's tokens, when it is shown images; None when not."""
    if isinstance(model, VisionModel) and model.vision:
        return model.image_tokens
    return None


@runtime_checkable
class PrefillModel(Model, Protocol):
    """A model that can be made to begin its reply with given text (``supports_prefill``):
    used to steer a small model into writing a code block."""

    supports_prefill: bool

    def stream(
        self,
        messages: Sequence[Message],
        *,
        cancel: threading.Event | None = None,
        tools: Sequence[ToolSpec] = (),
        prefill: str = "",
    ) -> Iterator[ModelChunk]: ...


@runtime_checkable
class VaryingModel(Model, Protocol):
    """A model that answers the same prompt the same way (an embedded one, greedy) and can
    give a twin that samples instead: the attempts after the first of ``effort``
    (``loci.vote``). A model that already samples (a remote API at its default temperature)
    needs no twin."""

    def varied(self, seed: int) -> Model: ...
