"""Conversions shared by model adapters."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ..errors import ModelResponseError
from ..messages import MCP_LANGUAGE, Message, ToolCall
from ..pycall import format_call, split_function
from .base import message_tokens

RESULT_PREFIX = "Output:\n"
QUOTE_CHARS = 120  # how much of bad tool-call arguments an error quotes


def orphan_results_to_user(messages: Sequence[Message]) -> list[Message]:
    """For tool-call models: a tool result whose call is not in the history (a conversation
    begun with a text-mode model) becomes a plain user message, as the APIs require."""
    out: list[Message] = []
    open_ids: set[str] = set()
    for m in messages:
        if m.role == "assistant":
            open_ids = {c.id for c in m.tool_calls}
        if m.role == "tool" and m.tool_call_id not in open_ids:
            m = Message("user", RESULT_PREFIX + m.content, images=m.images)
        out.append(m)
    return out


def flatten_tool_messages(messages: Sequence[Message]) -> list[Message]:
    """For models without native tool calls: code goes back as fenced blocks inside the
    assistant's text, and each execution result becomes a user message. Consecutive messages
    of the same role are merged, since many chat templates require alternation."""
    out: list[Message] = []
    for m in messages:
        if m.role == "assistant" and m.tool_calls:
            parts = [m.content] if m.content.strip() else []
            parts += [c.fenced() for c in m.tool_calls]
            m = Message("assistant", "\n\n".join(parts))
        elif m.role == "tool":
            m = Message("user", RESULT_PREFIX + m.content, images=m.images)
        if out and out[-1].role == m.role and m.role != "system":
            before = out[-1]
            out[-1] = Message(
                m.role, before.content + "\n\n" + m.content, images=before.images + m.images
            )
        else:
            out.append(Message(m.role, m.content, images=m.images))
    return out


def estimate_prompt_tokens(messages: Sequence[Message]) -> int:
    """What a prompt costs, estimated (for servers that report no usage)."""
    return sum(message_tokens(m) for m in messages)


def _looks_like_code(text: str) -> bool:
    return bool(text.strip()) and text.lstrip()[0] not in "{[\"'"


def parse_tool_arguments(call_id: str, name: str, raw: str) -> ToolCall:
    """Turn the arguments of an ``execute`` call into a ToolCall; a call to an MCP tool
    (``server__tool``) becomes one of language ``mcp`` whose code is its Python form.

    Arguments that are not JSON but look like code (some models send the code bare) are
    taken as Python; anything else that cannot be understood is a ModelResponseError.
    """
    parts = split_function(name)
    if parts is not None:
        return ToolCall(call_id, MCP_LANGUAGE, format_call(*parts, _json_object(name, raw)))
    default_language = "shell" if name in ("shell", "bash", "sh") else "python"
    try:
        data = _json_object(name, raw)
    except ModelResponseError as exc:
        if isinstance(exc.__cause__, json.JSONDecodeError) and _looks_like_code(raw):
            return ToolCall(call_id, default_language, raw)
        raise
    code = data.get("code")
    if not isinstance(code, str):
        raise ModelResponseError(
            f"the model called {name!r} without a 'code' string: {raw[:QUOTE_CHARS]!r}"
        )
    language = data.get("language")
    if not isinstance(language, str) or not language.strip():
        language = default_language
    return ToolCall(call_id, language.strip().lower(), code)


def _json_object(name: str, raw: str) -> dict[str, Any]:
    """The arguments of a call to ``name``: a JSON object (a ModelResponseError if not)."""
    try:
        data: Any = json.loads(raw, strict=False) if raw.strip() else {}
    except json.JSONDecodeError as exc:
        raise ModelResponseError(
            f"the model called {name!r} with arguments that are not valid JSON "
            f"({exc.msg}): {raw[:QUOTE_CHARS]!r}"
        ) from exc
    if not isinstance(data, dict):
        raise ModelResponseError(
            f"the model called {name!r} with arguments that are not a JSON object: "
            f"{raw[:QUOTE_CHARS]!r}"
        )
    return data
