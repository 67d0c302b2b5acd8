"""The scripted model: a queue of replies, streamed in small pieces."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from loci.errors import ConfigError, ModelUnavailableError
from loci.messages import Message, ToolCall
from loci.models import Model, ScriptedModel, ScriptedReply, TextChunk, ToolCallChunk, UsageChunk
from loci.models.base import ModelChunk

HELLO = [Message("user", "hi")]


def text_of(chunks: list[ModelChunk]) -> str:
    return "".join(c.text for c in chunks if isinstance(c, TextChunk))


def test_replays_in_order_and_records_calls() -> None:
    model = ScriptedModel(["first reply", "second"])
    assert isinstance(model, Model)
    assert text_of(list(model.stream(HELLO))) == "first reply"
    history = [*HELLO, Message("assistant", "first reply"), Message("user", "more")]
    assert text_of(list(model.stream(history))) == "second"
    assert model.calls == [HELLO, history]
    assert model.pending == 0


def test_text_streams_in_small_pieces_then_usage() -> None:
    model = ScriptedModel()
    model.enqueue("Hello, streaming world!")
    chunks = list(model.stream(HELLO))
    texts = [c for c in chunks if isinstance(c, TextChunk)]
    assert len(texts) > 3
    assert all(len(c.text) <= 4 for c in texts)
    assert isinstance(chunks[-1], UsageChunk)
    assert chunks[-1].usage.prompt_tokens > 0


def test_empty_queue_says_done() -> None:
    model = ScriptedModel()
    assert text_of(list(model.stream(HELLO))) == "Done."
    assert text_of(list(model.stream(HELLO))) == "Done."


def test_tool_calls_native() -> None:
    model = ScriptedModel(tools=True)
    call = ToolCall("c1", "python", "print(1)")
    model.enqueue("Running.", tool_calls=[call])
    chunks = list(model.stream(HELLO))
    assert text_of(chunks) == "Running."
    assert [c.call for c in chunks if isinstance(c, ToolCallChunk)] == [call]
    assert model.supports_tools


def test_tool_calls_become_fenced_blocks_without_tools() -> None:
    model = ScriptedModel()
    model.enqueue("Running.", tool_calls=[ToolCall("c1", "python", "print(1)")])
    chunks = list(model.stream(HELLO))
    assert not [c for c in chunks if isinstance(c, ToolCallChunk)]
    assert text_of(chunks) == "Running.\n\n```python\nprint(1)\n```"


def test_enqueued_error_is_raised_after_the_text() -> None:
    model = ScriptedModel()
    model.enqueue("partial", error=ModelUnavailableError("connection dropped mid-reply"))
    received: list[ModelChunk] = []
    with pytest.raises(ModelUnavailableError):
        for chunk in model.stream(HELLO):
            received.append(chunk)
    assert text_of(received) == "partial"


def test_cancel_stops_streaming() -> None:
    model = ScriptedModel([ScriptedReply("a long reply that streams in pieces")])
    cancel = threading.Event()
    received: list[ModelChunk] = []
    for chunk in model.stream(HELLO, cancel=cancel):
        received.append(chunk)
        cancel.set()
    assert text_of(received) == "a l"
    assert isinstance(received[-1], UsageChunk)


def test_from_file(tmp_path: Path) -> None:
    path = tmp_path / "script.json"
    path.write_text(
        json.dumps(
            [
                {"text": "Let me compute.", "tool_calls": [{"language": "python", "code": "2+2"}]},
                "It is 4.",
            ]
        )
    )
    model = ScriptedModel.from_file(path)
    assert model.supports_tools
    assert model.name == f"scripted:{path}"
    chunks = list(model.stream(HELLO))
    assert [c.call for c in chunks if isinstance(c, ToolCallChunk)] == [
        ToolCall("call_1_1", "python", "2+2")
    ]
    assert text_of(list(model.stream(HELLO))) == "It is 4."


def test_from_file_text_only_means_no_tools(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text('["just text"]')
    assert not ScriptedModel.from_file(path).supports_tools
    assert ScriptedModel.from_file(path, tools=True).supports_tools


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "invalid JSON"),
        ('{"text": "x"}', "JSON list"),
        ("[3]", "reply 1"),
        ('["ok", {"text": 1}]', "reply 2: 'text'"),
        ('[{"tool_calls": [{"language": "python"}]}]', "'code'"),
        ('[{"tool_calls": {}}]', "'tool_calls' must be a list"),
        ('[{"txt": "typo"}]', "unknown key"),
    ],
)
def test_malformed_file(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message) as info:
        ScriptedModel.from_file(path)
    assert str(path) in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.json"):
        ScriptedModel.from_file(tmp_path / "nope.json")
