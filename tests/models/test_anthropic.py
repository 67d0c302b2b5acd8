"""The Anthropic adapter against a real local server speaking the Messages streaming protocol."""

from __future__ import annotations

import inspect
import json
import sys
import threading

import pytest
from fake_anthropic_server import anthropic_error, anthropic_reply
from fake_openai_server import Reply, SSEServer

from loci.errors import (
    MissingExtraError,
    ModelAuthError,
    ModelError,
    ModelNotFoundError,
    ModelResponseError,
    ModelUnavailableError,
)
from loci.events import Usage
from loci.messages import TOOL_NAME, TOOL_SCHEMA, Message, ToolCall
from loci.models import Model, TextChunk, ToolCallChunk, UsageChunk
from loci.models.base import ModelChunk

anthropic = pytest.importorskip("anthropic")

from loci.models.anthropic import (  # noqa: E402
    AnthropicModel,
    map_anthropic_errors,
    to_anthropic_messages,
)

HELLO = [Message("system", "Be brief."), Message("user", "hi")]


def make_model(server: SSEServer, *, retries: int = 0, tools: bool = True) -> AnthropicModel:
    model = AnthropicModel(
        "claude-test",
        api_key="sk-ant-test",
        name="anthropic:claude-test",
        api_base=server.url,
        max_retries=retries,
        timeout=10,
        tools=tools,
    )
    model.retry_delay = 0.01
    return server.own(model)


def text_of(chunks: list[ModelChunk]) -> str:
    return "".join(c.text for c in chunks if isinstance(c, TextChunk))


def test_text_reply_and_usage(anthropic_server: SSEServer) -> None:
    anthropic_server.queue(anthropic_reply(["Hel", "lo"], usage=(21, 4)))
    model = make_model(anthropic_server)
    assert isinstance(model, Model)
    chunks = list(model.stream(HELLO))
    assert [c.text for c in chunks if isinstance(c, TextChunk)] == ["Hel", "lo"]
    assert chunks[-1] == UsageChunk(Usage(21, 4))

    request = anthropic_server.requests[0]
    assert request.path == "/v1/messages"
    sent_key = request.headers.get("x-api-key") or request.headers.get("authorization", "")
    assert sent_key.removeprefix("Bearer ") == "sk-ant-test"  # the header differs by SDK version
    body = request.json
    assert body["model"] == "claude-test"
    assert body["stream"] is True
    assert body["system"] == "Be brief."
    assert body["messages"] == [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]
    (tool,) = body["tools"]
    assert tool["name"] == TOOL_NAME
    assert tool["input_schema"] == TOOL_SCHEMA


def test_tool_use_blocks_become_tool_calls(anthropic_server: SSEServer) -> None:
    raw = json.dumps({"language": "python", "code": "print('hi')\nprint(2)"})
    raw2 = json.dumps({"language": "shell", "code": "pwd"})
    anthropic_server.queue(anthropic_reply(["Running."], [("toolu_1", raw), ("toolu_2", raw2)]))
    chunks = list(make_model(anthropic_server).stream(HELLO))
    assert text_of(chunks) == "Running."
    assert [c.call for c in chunks if isinstance(c, ToolCallChunk)] == [
        ToolCall("toolu_1", "python", "print('hi')\nprint(2)"),
        ToolCall("toolu_2", "shell", "pwd"),
    ]
    assert isinstance(chunks[-1], UsageChunk)


def test_malformed_tool_input_raises(anthropic_server: SSEServer) -> None:
    anthropic_server.queue(anthropic_reply(tools=[("toolu_1", '{"language": "python"}')]))
    with pytest.raises(ModelResponseError, match="'code'"):
        list(make_model(anthropic_server).stream(HELLO))


def test_message_conversion_merges_roles_and_uses_blocks() -> None:
    call = ToolCall("toolu_1", "python", "1 + 1")
    system, messages = to_anthropic_messages(
        [
            Message("system", "Sys."),
            Message("user", "first"),
            Message("user", "second"),
            Message("assistant", "Let me run it.", tool_calls=(call,)),
            Message("tool", "2", tool_call_id="toolu_1"),
            Message("user", "thanks"),
            Message("assistant", ""),
        ]
    )
    assert system == "Sys."
    assert messages == [
        {
            "role": "user",
            "content": [{"type": "text", "text": "first"}, {"type": "text", "text": "second"}],
        },
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Let me run it."},
                {
                    "type": "tool_use",
                    "id": "toolu_1",
                    "name": TOOL_NAME,
                    "input": {"language": "python", "code": "1 + 1"},
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "2"},
                {"type": "text", "text": "thanks"},
            ],
        },
    ]


def test_text_mode_flattens(anthropic_server: SSEServer) -> None:
    anthropic_server.queue(anthropic_reply(["ok"]))
    call = ToolCall("toolu_1", "python", "1 + 1")
    history = [*HELLO, Message("assistant", "", tool_calls=(call,)), Message("tool", "2")]
    list(make_model(anthropic_server, tools=False).stream(history))
    body = anthropic_server.requests[0].json
    assert "tools" not in body
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    assert "```python\n1 + 1\n```" in body["messages"][1]["content"][0]["text"]


def test_overloaded_is_retried_by_the_sdk(anthropic_server: SSEServer) -> None:
    anthropic_server.queue(
        anthropic_error(529, "overloaded_error", "Overloaded", retry_after_ms="10"),
        anthropic_reply(["fine"]),
    )
    assert text_of(list(make_model(anthropic_server, retries=2).stream(HELLO))) == "fine"
    assert len(anthropic_server.requests) == 2


@pytest.mark.parametrize(
    ("status", "kind", "error"),
    [
        (401, "authentication_error", ModelAuthError),
        (403, "permission_error", ModelAuthError),
        (404, "not_found_error", ModelNotFoundError),
        (429, "rate_limit_error", ModelUnavailableError),
        (500, "api_error", ModelUnavailableError),
        (400, "invalid_request_error", ModelResponseError),
    ],
)
def test_http_errors_are_mapped(
    anthropic_server: SSEServer, status: int, kind: str, error: type[ModelError]
) -> None:
    anthropic_server.queue(anthropic_error(status, kind, "nope"))
    with pytest.raises(error, match="nope"):
        list(make_model(anthropic_server).stream(HELLO))


def test_error_event_before_any_chunk_is_retried(anthropic_server: SSEServer) -> None:
    failing = Reply(
        events=[
            ("error", {"type": "error", "error": {"type": "overloaded_error", "message": "x"}})
        ],
        done=False,
    )
    anthropic_server.queue(failing, anthropic_reply(["ok"]))
    assert text_of(list(make_model(anthropic_server, retries=1).stream(HELLO))) == "ok"


def test_dropped_stream_before_and_mid_reply(anthropic_server: SSEServer) -> None:
    first = anthropic_reply(["lost"])
    first.cut_after = 2  # message_start and ping only
    anthropic_server.queue(first, anthropic_reply(["got it"]))
    assert text_of(list(make_model(anthropic_server, retries=1).stream(HELLO))) == "got it"

    mid = anthropic_reply(["one ", "two ", "three"])
    mid.cut_after = 5  # ... content_block_start, two text deltas
    anthropic_server.queue(mid)
    received: list[ModelChunk] = []
    with pytest.raises(ModelUnavailableError, match="mid-reply"):
        for chunk in make_model(anthropic_server, retries=2).stream(HELLO):
            received.append(chunk)
    assert text_of(received) == "one two "


def test_cancel_stops_early(anthropic_server: SSEServer) -> None:
    reply = anthropic_reply([f"p{i} " for i in range(30)])
    reply.delay = 0.05
    anthropic_server.queue(reply)
    cancel = threading.Event()
    received: list[ModelChunk] = []
    for chunk in make_model(anthropic_server).stream(HELLO, cancel=cancel):
        received.append(chunk)
        cancel.set()
    assert text_of(received) == "p0 "
    assert isinstance(received[-1], UsageChunk)


def test_missing_key() -> None:
    with pytest.raises(ModelAuthError, match="ANTHROPIC_API_KEY"):
        AnthropicModel("claude", api_key=None, name="anthropic:claude")


def test_missing_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "anthropic", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'loci\[anthropic\]'"):
        AnthropicModel("claude", api_key="k", name="anthropic:claude")


def _anthropic_error_classes() -> list[type[Exception]]:
    names = [*anthropic.__all__, *dir(anthropic._exceptions)]
    found = {
        obj
        for module in (anthropic, anthropic._exceptions)
        for name in names
        if name.endswith("Error")
        and inspect.isclass(obj := getattr(module, name, None))
        and issubclass(obj, anthropic.AnthropicError)
    }
    return sorted(found, key=lambda c: c.__name__)


@pytest.mark.parametrize("cls", _anthropic_error_classes(), ids=lambda c: c.__name__)
def test_every_anthropic_error_is_mapped(cls: type[Exception]) -> None:
    exc = cls.__new__(cls)
    exc.args = ("boom",)
    with pytest.raises(ModelError) as info, map_anthropic_errors("m", "http://x"):
        raise exc
    assert info.value.__cause__ is exc
    if issubclass(cls, anthropic.AuthenticationError):
        assert isinstance(info.value, ModelAuthError)
    if issubclass(cls, (anthropic.RateLimitError, anthropic.InternalServerError)):
        assert isinstance(info.value, ModelUnavailableError)
    if issubclass(cls, anthropic.APIConnectionError):
        assert isinstance(info.value, ModelUnavailableError)
    if issubclass(cls, anthropic.NotFoundError):
        assert isinstance(info.value, ModelNotFoundError)
    if issubclass(cls, anthropic.BadRequestError):
        assert isinstance(info.value, ModelResponseError)
