"""A real local HTTP server speaking Anthropic's Messages streaming protocol.

Events: message_start, content_block_start, content_block_delta (text_delta, input_json_delta),
content_block_stop, message_delta, message_stop — each as ``event: NAME`` + ``data: {...}``.
The transport (queue, recording, cut-off streams, errors) is ``fake_openai_server.SSEServer``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fake_openai_server import Reply, SSEServer


def _message_start(input_tokens: int) -> tuple[str, Any]:
    return (
        "message_start",
        {
            "type": "message_start",
            "message": {
                "id": "msg_test",
                "type": "message",
                "role": "assistant",
                "model": "claude-test",
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": input_tokens, "output_tokens": 1},
            },
        },
    )


def _block(index: int, block: dict[str, Any], deltas: list[dict[str, Any]]) -> list[Any]:
    events: list[Any] = [
        (
            "content_block_start",
            {"type": "content_block_start", "index": index, "content_block": block},
        )
    ]
    events += [
        ("content_block_delta", {"type": "content_block_delta", "index": index, "delta": d})
        for d in deltas
    ]
    events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    return events


def anthropic_reply(
    text: list[str] | None = None,
    tools: list[tuple[str, str]] | None = None,
    *,
    usage: tuple[int, int] = (11, 7),
    split: int = 6,
    ping: bool = True,
) -> Reply:
    """Text pieces, then tool_use blocks: (id, raw JSON input), the JSON split every ``split``."""
    events: list[Any] = [_message_start(usage[0])]
    if ping:
        events.append(("ping", {"type": "ping"}))
    index = 0
    if text:
        deltas = [{"type": "text_delta", "text": t} for t in text]
        events += _block(index, {"type": "text", "text": ""}, deltas)
        index += 1
    for call_id, raw in tools or []:
        block = {"type": "tool_use", "id": call_id, "name": "execute", "input": {}}
        deltas = [
            {"type": "input_json_delta", "partial_json": raw[i : i + split]}
            for i in range(0, len(raw), split)
        ]
        events += _block(index, block, deltas)
        index += 1
    stop = "tool_use" if tools else "end_turn"
    events.append(
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop, "stop_sequence": None},
                "usage": {"output_tokens": usage[1]},
            },
        )
    )
    events.append(("message_stop", {"type": "message_stop"}))
    return Reply(events=events, done=False)


def anthropic_error(status: int, kind: str, message: str, **headers: str) -> Reply:
    return Reply(
        status=status,
        body={"type": "error", "error": {"type": kind, "message": message}},
        headers={k.replace("_", "-"): v for k, v in headers.items()},
    )


@pytest.fixture
def anthropic_server() -> Iterator[SSEServer]:
    server = SSEServer().start()
    try:
        yield server
    finally:
        server.stop()
