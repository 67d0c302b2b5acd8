"""The OpenAI adapter against a real local server speaking the streaming protocol."""

from __future__ import annotations

import inspect
import json
import threading
import time

import openai
import pytest
from fake_openai_server import Reply, SSEServer, error_reply, text_reply, tool_reply

from loci.errors import (
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
from loci.models.convert import flatten_tool_messages
from loci.models.openai_compat import (
    DUMMY_API_KEY,
    OpenAIModel,
    map_openai_errors,
    parse_tool_arguments,
    translate_openai_error,
)

HELLO = [Message("system", "You are helpful."), Message("user", "hi")]


def make_model(server: SSEServer, *, tools: bool = False, retries: int = 0) -> OpenAIModel:
    model = OpenAIModel(
        "test-model",
        api_base=server.url + "/v1",
        api_key=None,
        tools=tools,
        context_window=8192,
        name="openai:test-model",
        max_retries=retries,
        timeout=10,
    )
    model.retry_delay = 0.01
    return server.own(model)


def text_of(chunks: list[ModelChunk]) -> str:
    return "".join(c.text for c in chunks if isinstance(c, TextChunk))


# --- text mode ----------------------------------------------------------------------------


def test_text_mode_streams_text_and_usage(openai_server: SSEServer) -> None:
    openai_server.queue(text_reply("Hel", "lo ", "there"))
    model = make_model(openai_server)
    assert isinstance(model, Model)
    chunks = list(model.stream(HELLO))
    assert [c.text for c in chunks if isinstance(c, TextChunk)] == ["Hel", "lo ", "there"]
    assert isinstance(chunks[-1], UsageChunk)
    assert chunks[-1].usage.completion_tokens > 0  # no usage from the server: an estimate

    request = openai_server.requests[0]
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {DUMMY_API_KEY}"
    body = request.json
    assert body["model"] == "test-model"
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert "tools" not in body
    assert body["messages"] == [
        {"role": "system", "content": "You are helpful."},
        {"role": "user", "content": "hi"},
    ]


def test_usage_from_the_server_is_reported(openai_server: SSEServer) -> None:
    openai_server.queue(text_reply("ok", usage=(42, 3)))
    chunks = list(make_model(openai_server).stream(HELLO))
    usage = [c for c in chunks if isinstance(c, UsageChunk)]
    assert usage == [UsageChunk(Usage(42, 3))]
    assert chunks[-1] == usage[0]


def test_text_mode_flattens_tool_messages(openai_server: SSEServer) -> None:
    openai_server.queue(text_reply("done"))
    call = ToolCall("c1", "python", "print(2)")
    history = [
        *HELLO,
        Message("assistant", "Running it.", tool_calls=(call,)),
        Message("tool", "2", tool_call_id="c1"),
    ]
    list(make_model(openai_server).stream(history))
    sent = openai_server.requests[0].json["messages"]
    assert sent[2] == {"role": "assistant", "content": "Running it.\n\n```python\nprint(2)\n```"}
    assert sent == [{"role": m.role, "content": m.content} for m in flatten_tool_messages(history)]
    assert sent[3]["role"] == "user"


# --- tool mode ----------------------------------------------------------------------------


def test_tool_mode_offers_execute_and_converts_messages(openai_server: SSEServer) -> None:
    openai_server.queue(text_reply("The answer is 2."))
    call = ToolCall("call_1", "python", "print(1 + 1)")
    history = [
        *HELLO,
        Message("assistant", "", tool_calls=(call,)),
        Message("tool", "2\n", tool_call_id="call_1"),
    ]
    chunks = list(make_model(openai_server, tools=True).stream(history))
    assert text_of(chunks) == "The answer is 2."

    body = openai_server.requests[0].json
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": TOOL_NAME,
                "description": body["tools"][0]["function"]["description"],
                "parameters": TOOL_SCHEMA,
            },
        }
    ]
    assistant, tool = body["messages"][2:]
    assert assistant["role"] == "assistant"
    assert assistant["content"] is None
    (sent_call,) = assistant["tool_calls"]
    assert sent_call["id"] == "call_1"
    assert sent_call["type"] == "function"
    assert sent_call["function"]["name"] == TOOL_NAME
    assert json.loads(sent_call["function"]["arguments"]) == {
        "language": "python",
        "code": "print(1 + 1)",
    }
    assert tool == {"role": "tool", "tool_call_id": "call_1", "content": "2\n"}


def test_tool_calls_are_accumulated_across_chunks(openai_server: SSEServer) -> None:
    first = json.dumps({"language": "python", "code": "import math\nprint(math.pi)"})
    second = json.dumps({"language": "shell", "code": "ls -la"})
    openai_server.queue(tool_reply([("call_a", first), ("call_b", second)], split=5))
    chunks = list(make_model(openai_server, tools=True).stream(HELLO))
    calls = [c.call for c in chunks if isinstance(c, ToolCallChunk)]
    assert calls == [
        ToolCall("call_a", "python", "import math\nprint(math.pi)"),
        ToolCall("call_b", "shell", "ls -la"),
    ]
    assert isinstance(chunks[-1], UsageChunk)


def test_tool_call_with_text_before_it(openai_server: SSEServer) -> None:
    args = json.dumps({"language": "python", "code": "1"})
    openai_server.queue(tool_reply([("c", args)], text="Let me check.", usage=(10, 5)))
    chunks = list(make_model(openai_server, tools=True).stream(HELLO))
    assert text_of(chunks) == "Let me check."
    assert [c.call for c in chunks if isinstance(c, ToolCallChunk)] == [
        ToolCall("c", "python", "1")
    ]
    assert chunks[-1] == UsageChunk(Usage(10, 5))


def test_raw_code_arguments_are_taken_as_python(openai_server: SSEServer) -> None:
    openai_server.queue(tool_reply([("c", "print('bare code')")]))
    chunks = list(make_model(openai_server, tools=True).stream(HELLO))
    assert [c.call for c in chunks if isinstance(c, ToolCallChunk)] == [
        ToolCall("c", "python", "print('bare code')")
    ]


def test_malformed_json_arguments_raise(openai_server: SSEServer) -> None:
    openai_server.queue(tool_reply([("c", '{"language": "python", "code": "pri')]))
    with pytest.raises(ModelResponseError, match="not valid JSON"):
        list(make_model(openai_server, tools=True).stream(HELLO))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('{"language": "python", "code": "x = 1"}', ToolCall("i", "python", "x = 1")),
        ('{"code": "x = 1"}', ToolCall("i", "python", "x = 1")),
        ('{"language": "Shell", "code": "ls"}', ToolCall("i", "shell", "ls")),
        ('{"language": "python", "code": "a\nb"}', ToolCall("i", "python", "a\nb")),
        ("x = 1\nprint(x)", ToolCall("i", "python", "x = 1\nprint(x)")),
    ],
)
def test_parse_tool_arguments(raw: str, expected: ToolCall) -> None:
    assert parse_tool_arguments("i", "execute", raw) == expected


@pytest.mark.parametrize("raw", ["", "[1, 2]", '{"language": "python"}', '{"code": 3}', "{bad"])
def test_parse_tool_arguments_rejects(raw: str) -> None:
    with pytest.raises(ModelResponseError, match="'execute'"):
        parse_tool_arguments("i", "execute", raw)


# --- retries, drops, cancel ---------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 500])
def test_sdk_retries_rate_limits_and_server_errors(openai_server: SSEServer, status: int) -> None:
    openai_server.queue(
        error_reply(status, "slow down", retry_after_ms="10"),
        text_reply("finally"),
    )
    chunks = list(make_model(openai_server, retries=2).stream(HELLO))
    assert text_of(chunks) == "finally"
    assert len(openai_server.requests) == 2


def test_rate_limit_after_retries_is_unavailable(openai_server: SSEServer) -> None:
    for _ in range(2):
        openai_server.queue(error_reply(429, "quota exceeded", retry_after_ms="10"))
    with pytest.raises(ModelUnavailableError, match="quota exceeded"):
        list(make_model(openai_server, retries=1).stream(HELLO))
    assert len(openai_server.requests) == 2


def test_server_error_without_retries_is_unavailable(openai_server: SSEServer) -> None:
    openai_server.queue(error_reply(503, "overloaded"))
    with pytest.raises(ModelUnavailableError, match="overloaded"):
        list(make_model(openai_server).stream(HELLO))


def test_bad_key(openai_server: SSEServer) -> None:
    openai_server.queue(error_reply(401, "Incorrect API key provided"))
    with pytest.raises(ModelAuthError, match="OPENAI_API_KEY") as info:
        list(make_model(openai_server, retries=2).stream(HELLO))
    assert "Incorrect API key" in str(info.value)
    assert isinstance(info.value.__cause__, openai.AuthenticationError)
    assert len(openai_server.requests) == 1  # not retried


def test_unknown_model(openai_server: SSEServer) -> None:
    openai_server.queue(error_reply(404, "model 'test-model' not found"))
    with pytest.raises(ModelNotFoundError) as info:
        list(make_model(openai_server).stream(HELLO))
    assert "test-model" in str(info.value)
    assert openai_server.url in str(info.value)


def test_bad_request(openai_server: SSEServer) -> None:
    openai_server.queue(error_reply(400, "context length exceeded"))
    with pytest.raises(ModelResponseError, match="context length exceeded"):
        list(make_model(openai_server).stream(HELLO))


def test_connection_refused_is_unavailable() -> None:
    server = SSEServer()  # bound but never serving: take its port, then close it
    url = server.url
    server._httpd.server_close()
    model = OpenAIModel(
        "m", api_base=url + "/v1", api_key="k", tools=False, context_window=1,
        name="openai:m", max_retries=0, timeout=5,
    )  # fmt: skip
    with model, pytest.raises(ModelUnavailableError, match="cannot get a reply"):
        list(model.stream(HELLO))


def test_stream_dropped_before_any_chunk_is_retried(openai_server: SSEServer) -> None:
    openai_server.queue(
        Reply(events=text_reply("lost").events, cut_after=0),
        text_reply("second try"),
    )
    chunks = list(make_model(openai_server, retries=2).stream(HELLO))
    assert text_of(chunks) == "second try"
    assert len(openai_server.requests) == 2


def test_stream_that_keeps_dropping_gives_up(openai_server: SSEServer) -> None:
    for _ in range(3):
        openai_server.queue(Reply(events=text_reply("x").events, cut_after=1))
    with pytest.raises(ModelUnavailableError, match="before the reply started, 3 times"):
        list(make_model(openai_server, retries=2).stream(HELLO))
    assert len(openai_server.requests) == 3


def test_tool_call_cut_off_is_retried(openai_server: SSEServer) -> None:
    args = json.dumps({"language": "python", "code": "print(1)"})
    cut = tool_reply([("c", args)])
    cut.cut_after = 3
    openai_server.queue(cut, tool_reply([("c", args)]))
    chunks = list(make_model(openai_server, tools=True, retries=1).stream(HELLO))
    assert [c.call for c in chunks if isinstance(c, ToolCallChunk)] == [
        ToolCall("c", "python", "print(1)")
    ]


def test_stream_dropped_mid_reply_keeps_what_arrived(openai_server: SSEServer) -> None:
    openai_server.queue(Reply(events=text_reply("one ", "two ", "three").events, cut_after=3))
    received: list[ModelChunk] = []
    with pytest.raises(ModelUnavailableError, match="dropped mid-reply"):
        for chunk in make_model(openai_server, retries=3).stream(HELLO):
            received.append(chunk)
    assert text_of(received) == "one two "
    assert len(openai_server.requests) == 1  # not retried: the caller keeps the text


def test_cancel_stops_the_stream_and_closes_it(openai_server: SSEServer) -> None:
    pieces = [f"piece{i} " for i in range(40)]
    openai_server.queue(Reply(events=text_reply(*pieces).events, delay=0.05))
    cancel = threading.Event()
    received: list[ModelChunk] = []
    started = time.monotonic()
    for chunk in make_model(openai_server).stream(HELLO, cancel=cancel):
        received.append(chunk)
        if isinstance(chunk, TextChunk) and chunk.text:
            cancel.set()
    assert time.monotonic() - started < 1.0  # the whole reply would take 2 s
    assert text_of(received) == "piece0 "
    assert isinstance(received[-1], UsageChunk)
    deadline = time.monotonic() + 3
    while openai_server.disconnects == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert openai_server.disconnects == 1  # the server saw the connection closed


def test_abandoning_the_stream_closes_the_connection(openai_server: SSEServer) -> None:
    openai_server.queue(Reply(events=text_reply(*[f"p{i}" for i in range(40)]).events, delay=0.05))
    stream = make_model(openai_server).stream(HELLO)
    assert isinstance(next(stream), TextChunk)
    stream.close()  # type: ignore[attr-defined]  # what a front end does when its client leaves
    deadline = time.monotonic() + 3
    while openai_server.disconnects == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert openai_server.disconnects == 1


def test_cancel_before_start_sends_nothing(openai_server: SSEServer) -> None:
    cancel = threading.Event()
    cancel.set()
    assert list(make_model(openai_server).stream(HELLO, cancel=cancel)) == []
    assert openai_server.requests == []


# --- construction and error mapping -------------------------------------------------------


def test_missing_key_without_api_base() -> None:
    with pytest.raises(ModelAuthError, match="OPENAI_API_KEY"):
        OpenAIModel("gpt-4o", api_base=None, api_key=None, tools=True, context_window=1, name="x")


def test_api_key_is_sent(openai_server: SSEServer) -> None:
    openai_server.queue(text_reply("ok"))
    model = openai_server.own(OpenAIModel(
        "m", api_base=openai_server.url + "/v1", api_key="sk-test", tools=False,
        context_window=1, name="openai:m", max_retries=0,
    ))  # fmt: skip
    list(model.stream(HELLO))
    assert openai_server.requests[0].headers["authorization"] == "Bearer sk-test"


def _openai_error_classes() -> list[type[openai.OpenAIError]]:
    names = [*openai.__all__, *openai._exceptions.__all__, *dir(openai._exceptions)]
    found = {
        obj
        for module in (openai, openai._exceptions)
        for name in names
        if name.endswith("Error")
        and inspect.isclass(obj := getattr(module, name, None))
        and issubclass(obj, openai.OpenAIError)
    }
    return sorted(found, key=lambda c: c.__name__)


EXPECTED = {
    "AuthenticationError": ModelAuthError,
    "PermissionDeniedError": ModelAuthError,
    "NotFoundError": ModelNotFoundError,
    "RateLimitError": ModelUnavailableError,
    "InternalServerError": ModelUnavailableError,
    "APIConnectionError": ModelUnavailableError,
    "APITimeoutError": ModelUnavailableError,
    "BadRequestError": ModelResponseError,
    "UnprocessableEntityError": ModelResponseError,
    "APIResponseValidationError": ModelResponseError,
}


def test_the_expected_classes_exist() -> None:
    names = {c.__name__ for c in _openai_error_classes()}
    assert set(EXPECTED) <= names
    assert "APIError" in names and "OpenAIError" in names


@pytest.mark.parametrize("cls", _openai_error_classes(), ids=lambda c: c.__name__)
def test_every_openai_error_is_mapped(cls: type[openai.OpenAIError]) -> None:
    exc = cls.__new__(cls)  # no constructor arguments needed: mapping is by class
    exc.args = ("boom",)

    def raise_it() -> None:
        with map_openai_errors("m", "http://x/v1"):
            raise exc

    with pytest.raises(ModelError) as info:
        raise_it()
    assert info.value.__cause__ is exc
    expected = next(
        (EXPECTED[k.__name__] for k in cls.__mro__ if k.__name__ in EXPECTED), ModelError
    )
    assert type(info.value) is expected
    assert type(translate_openai_error(exc, "m", "http://x/v1")) is expected


def test_close_ends_the_client_connections(openai_server: SSEServer) -> None:
    openai_server.queue(text_reply("ok"))
    with make_model(openai_server) as model:
        assert text_of(list(model.stream(HELLO))) == "ok"
        assert not model._client._client.is_closed  # a keep-alive pool
    assert model._client._client.is_closed
