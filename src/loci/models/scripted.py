"""A model that replays a script: for tests, demos and docs, no keys and no network.

    model = ScriptedModel()
    model.enqueue("Let me look.", tool_calls=[ToolCall("c1", "python", "print(1 + 1)")])
    model.enqueue("The answer is 2.")

Each ``stream`` call takes the next queued reply and streams its text a few characters at a
time (so streaming parsers are exercised), then its tool calls, then usage. Without native tool
calls (``tools=False``) the tool calls are written into the text as fenced blocks instead, so
one script serves both modes. Every message list received is recorded in ``calls``, and the
tools offered beside ``execute`` (the MCP servers') in ``offered``. When the
queue is empty the reply is "Done.", so loops end.

A script file (``scripted:FILE``) is a JSON list of replies, each a string or
``{"text": "...", "tool_calls": [{"language": "python", "code": "..."}]}``.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError, LociError
from ..events import Usage
from ..messages import Message, ToolCall, ToolSpec
from .base import ModelChunk, TextChunk, ToolCallChunk, UsageChunk, estimate_tokens

PIECE = 3  # characters per streamed text chunk
WHEN_EMPTY = "Done."
CONTEXT = 32768  # tokens


@dataclass(frozen=True)
class ScriptedReply:
    """One queued reply. ``error``, if set, is raised after the text has streamed."""

    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    error: LociError | None = None


class ScriptedModel:
    """Replays queued replies, one per ``stream`` call."""

    def __init__(
        self,
        replies: Iterable[str | ScriptedReply] | None = None,
        *,
        name: str = "scripted",
        tools: bool = False,
        context_window: int = CONTEXT,
    ) -> None:
        self.name = name
        self.supports_tools = tools
        self.context_window = context_window
        self.calls: list[list[Message]] = []
        self.offered: list[tuple[ToolSpec, ...]] = []
        self._queue: deque[ScriptedReply] = deque()
        self._lock = threading.Lock()
        for reply in replies or ():
            self._queue.append(ScriptedReply(reply) if isinstance(reply, str) else reply)

    def __repr__(self) -> str:
        return f"ScriptedModel(name={self.name!r}, queued={len(self._queue)})"

    def enqueue(
        self,
        text: str = "",
        tool_calls: Sequence[ToolCall] | None = None,
        *,
        error: LociError | None = None,
    ) -> ScriptedReply:
        """Queue a reply; ``error`` makes that reply fail after its text (a dropped stream)."""
        reply = ScriptedReply(text, tuple(tool_calls or ()), error)
        with self._lock:
            self._queue.append(reply)
        return reply

    @property
    def pending(self) -> int:
        """How many queued replies are left."""
        return len(self._queue)

    def count_tokens(self, text: str) -> int:
        return estimate_tokens(text)

    def stream(
        self,
        messages: Sequence[Message],
        *,
        cancel: threading.Event | None = None,
        tools: Sequence[ToolSpec] = (),
    ) -> Iterator[ModelChunk]:
        with self._lock:
            self.calls.append(list(messages))
            self.offered.append(tuple(tools))
            reply = self._queue.popleft() if self._queue else ScriptedReply(WHEN_EMPTY)
        return self._play(reply, messages, cancel or threading.Event())

    def _play(
        self, reply: ScriptedReply, messages: Sequence[Message], cancel: threading.Event
    ) -> Iterator[ModelChunk]:
        text = reply.text
        calls = reply.tool_calls
        if not self.supports_tools and calls:
            parts = [text] if text else []
            text = "\n\n".join(parts + [c.fenced() for c in calls])
            calls = ()
        sent = ""
        for i in range(0, len(text), PIECE):
            if cancel.is_set():
                break
            sent += text[i : i + PIECE]
            yield TextChunk(text[i : i + PIECE])
        if reply.error is not None:
            raise reply.error
        for call in calls:
            if cancel.is_set():
                break
            sent += call.arguments_json()
            yield ToolCallChunk(call)
        prompt = sum(estimate_tokens(m.content) for m in messages)
        yield UsageChunk(Usage(prompt, estimate_tokens(sent)))

    @classmethod
    def from_file(
        cls, path: str | Path, *, name: str | None = None, tools: bool | None = None
    ) -> ScriptedModel:
        """Load a script. ``tools=None``: native tool calls when any reply has some."""
        path = Path(path).expanduser()
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read script {path}: {exc}") from exc
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}: invalid JSON: {exc}") from exc
        if not isinstance(data, list):
            raise ConfigError(f"{path}: a script is a JSON list of replies")
        replies = [_parse_reply(path, n, item) for n, item in enumerate(data, 1)]
        if tools is None:
            tools = any(r.tool_calls for r in replies)
        return cls(replies, name=name or f"scripted:{path}", tools=tools)


def _parse_reply(path: Path, n: int, item: Any) -> ScriptedReply:
    where = f"{path}: reply {n}"
    if isinstance(item, str):
        return ScriptedReply(item)
    if not isinstance(item, dict):
        raise ConfigError(f"{where}: expected a string or an object, got {type(item).__name__}")
    unknown = set(item) - {"text", "tool_calls"}
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    text = item.get("text", "")
    if not isinstance(text, str):
        raise ConfigError(f"{where}: 'text' must be a string")
    raw_calls = item.get("tool_calls")
    raw_calls = [] if raw_calls is None else raw_calls
    if not isinstance(raw_calls, list):
        raise ConfigError(f"{where}: 'tool_calls' must be a list")
    calls = []
    for k, call in enumerate(raw_calls, 1):
        if not isinstance(call, dict) or not isinstance(call.get("code"), str):
            raise ConfigError(f"{where}: tool call {k} needs a 'code' string")
        language = call.get("language", "python")
        call_id = call.get("id", f"call_{n}_{k}")
        if not isinstance(language, str) or not isinstance(call_id, str):
            raise ConfigError(f"{where}: tool call {k}: 'language' and 'id' must be strings")
        calls.append(ToolCall(call_id, language, call["code"]))
    return ScriptedReply(text, tuple(calls))
