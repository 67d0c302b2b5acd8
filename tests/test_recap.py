"""Compaction summaries the model writes (loci.recap), and the digest when it cannot."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import replace

import pytest

from loci.approval import auto_approve
from loci.config import Settings
from loci.errors import ModelUnavailableError
from loci.events import Notice, Usage
from loci.kernels.fake import FakeKernel
from loci.kernels.pool import KernelPool
from loci.messages import Message, ToolSpec
from loci.models.base import ModelChunk, TextChunk, UsageChunk
from loci.models.scripted import ScriptedModel
from loci.recap import INSTRUCTION, Recap, transcript, writes_summaries
from loci.session import Session
from test_compaction import FIRST, LAST, PAD, SECOND, WINDOW, script_long_conversation, writing_pool


@pytest.fixture
def pool(settings: Settings, fakes: dict[str, FakeKernel]) -> KernelPool:
    return writing_pool(settings, fakes)


SUMMARY = "Goal: revenue of sales.csv (1234). Wrote months.csv after a KeyError on 'month'."


class SummarisingModel(ScriptedModel):
    """A scripted model that answers loci's summary call itself (with ``summary``, or by
    failing), and the conversation's calls from its queue."""

    def __init__(self, summary: str | Exception, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.summary = summary
        self.asked: list[list[Message]] = []

    def stream(
        self,
        messages: Sequence[Message],
        *,
        cancel: threading.Event | None = None,
        tools: Sequence[ToolSpec] = (),
    ) -> Iterator[ModelChunk]:
        if messages[0].content.startswith(INSTRUCTION[:30]):
            self.asked.append(list(messages))
            return self._summarise()
        return super().stream(messages, cancel=cancel, tools=tools)

    def _summarise(self) -> Iterator[ModelChunk]:
        if isinstance(self.summary, Exception):
            raise self.summary
        yield TextChunk(self.summary)
        yield UsageChunk(Usage(500, 40))


def run_long(settings: Settings, pool: KernelPool, fakes: dict[str, FakeKernel],
             model: ScriptedModel) -> tuple[Session, list[object]]:  # fmt: skip
    events: list[object] = []
    s = Session(replace(settings, compact_with="model"), model=model, kernels=pool,
                approver=auto_approve)  # fmt: skip
    s.kernels.get("python")
    script_long_conversation(model, fakes["python"], 20)
    for text in [FIRST, SECOND, *(f"step {n}: go on. {PAD}" for n in range(20))]:
        events += s.run(text)
    model.enqueue("We found the total revenue.")
    events += s.run(LAST)
    return s, events


def test_the_model_writes_the_summary_with_its_own_call(
    settings: Settings, pool: KernelPool, fakes: dict[str, FakeKernel]
) -> None:
    model = SummarisingModel(SUMMARY, tools=True, context_window=WINDOW)
    s, events = run_long(settings, pool, fakes, model)
    with s:
        record = s.store.get_conversation(s.conversation_id)
        usage = s.usage
    # the summary call: the instruction, the transcript from the first request, the digest
    asked = model.asked[0]
    assert [m.role for m in asked] == ["system", "user"]
    assert "Facts loci recorded" in asked[1].content and FIRST in asked[1].content
    assert "KeyError" in asked[1].content
    # what the conversation's calls were sent in place of the older turns
    sent = model.calls[-1]
    assert sent[1].by == "loci" and sent[1].content.endswith(SUMMARY)
    assert sent[-1] == Message("user", LAST)
    made = record.to_dict()["compactions"]
    assert made and {c["method"] for c in made} == {"model"}
    said = [e.message for e in events if isinstance(e, Notice)]
    assert any("into a summary the model wrote" in m for m in said)
    assert usage.prompt_tokens >= 500 * len(model.asked)  # its calls are counted


def test_a_failed_summary_leaves_the_digest(
    settings: Settings, pool: KernelPool, fakes: dict[str, FakeKernel]
) -> None:
    model = SummarisingModel(ModelUnavailableError("the server went away"), tools=True,
                             context_window=WINDOW)  # fmt: skip
    s, events = run_long(settings, pool, fakes, model)
    with s:
        record = s.store.get_conversation(s.conversation_id)
    assert model.asked  # it was asked, and failed
    assert {c.method for c in record.compactions} == {"digest"}
    assert "months.csv" in model.calls[-1][1].content  # the digest's facts were sent
    warned = [e.message for e in events if isinstance(e, Notice) and e.level == "warning"]
    assert any("the server went away" in m and "sent a digest" in m for m in warned)
    assert model.calls[-1][-1] == Message("user", LAST)  # and the turn went on


def test_a_long_summary_is_cut_and_an_empty_one_falls_back() -> None:
    model = SummarisingModel("word " * 5000)
    recap = Recap(model, budget=4000)
    got = recap([Message("user", "hi")], "facts", tokens=100)
    assert len(got) <= 400 and got.endswith("…")
    model.summary = "   "
    assert recap([Message("user", "hi")], "facts", tokens=100) == ""
    assert recap.failures == ["the model wrote nothing"]


def test_the_transcript_keeps_the_goal_and_the_newest() -> None:
    turns = [Message("user", "THE GOAL")] + [
        Message("assistant", f"answer {n} " + "x" * 300) for n in range(50)
    ]
    text = transcript(turns, 2000)
    assert len(text) <= 2000
    assert text.startswith("Person: THE GOAL") and "answer 49" in text
    assert "earlier turns left out" in text and "answer 0 " not in text


def test_who_writes_by_default() -> None:
    assert writes_summaries(ScriptedModel(name="openai:gpt-4.1"), "auto")
    assert not writes_summaries(ScriptedModel(name="local:qwen2.5-coder-0.5b"), "auto")
    assert not writes_summaries(ScriptedModel(name="openai:gpt-4.1"), "digest")
    assert writes_summaries(ScriptedModel(name="local"), "model")


def test_a_stopped_summary_keeps_nothing(settings: Settings, pool: KernelPool) -> None:
    from loci.compaction import Past, compact_now

    model = SummarisingModel(SUMMARY, context_window=WINDOW)
    model.enqueue("First answer.")
    model.enqueue("Second answer.")
    with Session(settings, model=model, kernels=pool, approver=auto_approve) as s:
        list(s.run("first request"))
        list(s.run("second request"))
        stop = threading.Event()
        stop.set()  # the person pressed Ctrl-C while the summary was being written
        past = Past(s.store, s.conversation_id, writer=Recap(model, 1500, stop))
        assert compact_now(past, s.messages, 1500) is None
        assert s.store.get_conversation(s.conversation_id).compactions == ()
        assert list(s.compacted(past)) == []  # and no notice of a failure
