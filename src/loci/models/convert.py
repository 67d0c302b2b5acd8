"""Conversions shared by model adapters."""

from __future__ import annotations

from collections.abc import Sequence

from ..messages import Message

RESULT_PREFIX = "Output:\n"


def orphan_results_to_user(messages: Sequence[Message]) -> list[Message]:
    """For tool-call models: a tool result whose call is not in the history (a conversation
    begun with a text-mode model) becomes a plain user message, as the APIs require."""
    out: list[Message] = []
    open_ids: set[str] = set()
    for m in messages:
        if m.role == "assistant":
            open_ids = {c.id for c in m.tool_calls}
        if m.role == "tool" and m.tool_call_id not in open_ids:
            m = Message("user", RESULT_PREFIX + m.content)
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
            m = Message("user", RESULT_PREFIX + m.content)
        if out and out[-1].role == m.role and m.role != "system":
            out[-1] = Message(m.role, out[-1].content + "\n\n" + m.content)
        else:
            out.append(Message(m.role, m.content))
    return out
