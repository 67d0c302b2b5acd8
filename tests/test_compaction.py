"""Compaction: a long conversation on a small window is sent with its older turns digested,
never dropped from the store, and what the model saw is recorded."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from loci.approval import auto_approve
from loci.compaction import HEADER, Past, compact_now
from loci.config import Settings
from loci.context import input_budget
from loci.digest import digest
from loci.events import ExecutionDone, KernelEvent, KernelResult, Output
from loci.kernels.fake import FakeKernel
from loci.kernels.pool import KernelPool
from loci.messages import Message, ToolCall
from loci.models.base import message_tokens
from loci.models.scripted import ScriptedModel
from loci.session import Session
from loci.store import Store

WINDOW = 2000  # tokens: room for a few turns only
PAD = "Some words to make the turn long enough that the window fills. " * 3
FIRST = "load sales.csv and tell me the total revenue"
SECOND = "write the monthly totals to months.csv"
LAST = "now, in one line: what did we find? " + "Keep every word of this request. " * 4


class WritingKernel(FakeKernel):
    """A fake kernel that makes the files a block's ``to_csv("NAME")`` names."""

    def execute(
        self, code: str, *, timeout: float | None = None, cancel: threading.Event | None = None
    ) -> Iterator[KernelEvent]:
        for name in re.findall(r"to_csv\(\"([^\"]+)\"\)", code):
            (self.cwd / name).write_text("month,total\n")
        yield from super().execute(code, timeout=timeout, cancel=cancel)


def writing_pool(settings: Settings, fakes: dict[str, FakeKernel]) -> KernelPool:
    """Kernels that make the files their blocks write (kept in ``fakes``)."""

    def factory(language: str) -> FakeKernel:
        fakes[language] = WritingKernel(language, workdir=settings.workdir)
        return fakes[language]

    return KernelPool(settings.workdir, factory=factory)


@pytest.fixture
def pool(settings: Settings, fakes: dict[str, FakeKernel]) -> KernelPool:
    return writing_pool(settings, fakes)


def call(n: int, code: str) -> list[ToolCall]:
    return [ToolCall(f"c{n}", "python", code)]


def script_long_conversation(model: ScriptedModel, kernel: FakeKernel, turns: int) -> None:
    """The first request reads a file; the second fails once, is fixed, and writes one; then
    ``turns`` requests of filler, each a block and an answer."""
    model.enqueue("Reading it.", call(1, 'df = pd.read_csv("sales.csv")\nprint(df.revenue.sum())'))
    kernel.enqueue(Output("stdout", "1234\n"))
    model.enqueue("The total revenue is 1234.")
    model.enqueue("Writing.", call(2, 'df.groupby("month").sum().to_csv("months.csv")'))
    kernel.enqueue(
        Output("error", "Traceback (most recent call last):\nKeyError: 'month'"),
        KernelResult(status="error", error_name="KeyError", error_value="'month'"),
    )
    model.enqueue("Fixing.", call(3, 'df.groupby("Month").sum().to_csv("months.csv")'))
    kernel.enqueue(Output("stdout", "saved\n"))
    model.enqueue("The monthly totals are saved in months.csv.")
    for n in range(turns):
        model.enqueue(f"Looking {n}. {PAD}", call(10 + n, f"print('step {n}')"))
        kernel.enqueue(Output("stdout", f"step {n}\n"))
        model.enqueue(f"Step {n} is done. {PAD}")


def sent_tokens(model: ScriptedModel, messages: list[Message]) -> int:
    return sum(message_tokens(m, model.count_tokens) for m in messages)


def test_a_long_conversation_is_sent_compacted_and_stored_whole(
    settings: Settings, pool: KernelPool, fakes: dict[str, FakeKernel]
) -> None:
    model = ScriptedModel(tools=True, context_window=WINDOW)
    with Session(settings, model=model, kernels=pool, approver=auto_approve) as s:
        script_long_conversation(model, fakes["python"], turns=20)
        for text in [FIRST, SECOND, *(f"step {n}: go on. {PAD}" for n in range(20))]:
            list(s.run(text))
        model.enqueue("We found the total revenue and saved the monthly totals.")
        list(s.run(LAST))
        sent = model.calls[-1]
        record = s.store.get_conversation(s.conversation_id)

    budget = input_budget(WINDOW)
    assert all(sent_tokens(model, c) <= budget for c in model.calls)
    assert sent[0].role == "system"
    assert sent[-1] == Message("user", LAST)  # the last request, whole
    notes = [m for m in sent if m.by == "loci" and m.content.startswith("(loci: the first")]
    assert len(notes) == 1 and sent[1] == notes[0]
    note = notes[0].content
    for fact in (FIRST, SECOND, "sales.csv", "months.csv", "1234", "KeyError", "(fixed)"):
        assert fact in note, fact
    # the store has every message; only what was sent was compacted
    requests = [m.content for m in record.messages if m.role == "user" and m.by == "person"]
    assert requests[0] == FIRST and requests[-1] == LAST and len(requests) == 23
    assert len(record.messages) == len(s.messages)
    # what the model saw is recorded, and shown by ``loci show --json``
    shown = record.to_dict()["compactions"]
    assert shown and shown[-1]["text"] == note and shown[-1]["first_seq"] == 1
    assert shown[-1]["reason"] == "window" and shown[-1]["method"] == "digest"
    kept = [m for m in sent if m.role == "user" and m.by == "person"]
    assert shown[-1]["turns"] + len(kept) == 23
    # later calls reuse a compaction until they need a wider one, which leaves room to grow
    assert len(shown) < len(requests) // 2 and len(model.calls) > 4 * len(shown)


def test_a_short_conversation_is_sent_whole_and_nothing_is_recorded(
    settings: Settings, pool: KernelPool
) -> None:
    model = ScriptedModel(context_window=WINDOW)
    with Session(settings, model=model, kernels=pool, approver=auto_approve) as s:
        list(s.run("hello"))
        list(s.run("again"))
        assert [m.content for m in model.calls[-1][1:]] == ["hello", "Done.", "again"]
        assert s.store.get_conversation(s.conversation_id).compactions == ()


def test_compact_now_keeps_the_last_request_and_is_reused(
    settings: Settings, pool: KernelPool
) -> None:
    model = ScriptedModel()  # a big window: nothing would be compacted on its own
    with Session(settings, model=model, kernels=pool, approver=auto_approve) as s:
        model.enqueue("The answer is yes.")
        list(s.run(FIRST))
        past = Past(s.store, s.conversation_id)
        assert compact_now(past, s.messages, 10_000) is None  # one request: nothing to compact
        list(s.run(SECOND))
        made = compact_now(past, s.messages, 10_000)
        assert made is not None and made.reason == "asked" and made.turns == 1
        assert compact_now(past, s.messages, 10_000) is None  # already done
        list(s.run("third"))
        sent = model.calls[-1]
    assert sent[1].content == made.text and FIRST in made.text and "yes" in made.text
    assert [m.content for m in sent[2:]] == [SECOND, "Done.", "third"]


def test_undo_into_a_compacted_turn_forgets_the_compaction(
    settings: Settings, pool: KernelPool
) -> None:
    model = ScriptedModel()
    with Session(settings, model=model, kernels=pool, approver=auto_approve) as s:
        for text in ("one", "two", "three"):
            list(s.run(text))
        assert compact_now(Past(s.store, s.conversation_id), s.messages, 10_000) is not None
        s.undo()  # "three": the compaction of "one" and "two" still holds
        assert s.store.latest_compaction(s.conversation_id) is not None
        s.undo()  # "two" was in it
        assert s.store.latest_compaction(s.conversation_id) is None
        list(s.run("four"))
        assert [m.content for m in model.calls[-1][1:]] == ["one", "Done.", "four"]


def test_a_preview_compacts_without_recording(settings: Settings, pool: KernelPool) -> None:
    model = ScriptedModel(context_window=600)
    with Session(settings, model=model, kernels=pool, approver=auto_approve) as s:
        for n in range(12):
            model.enqueue(f"Answer {n}. {PAD}")
            list(s.run(f"request {n}. {PAD}"))
        before = s.store.get_conversation(s.conversation_id).compactions
        look = Past(s.store, s.conversation_id, record=False)
        sent = s.prompt(s.messages, past=look)
        assert look.used is not None  # the older turns are sent compacted ...
        assert s.store.get_conversation(s.conversation_id).compactions == before  # ... no new row
        assert sent_tokens(model, sent) <= input_budget(600)


# -- the hostile cases: the digest stays bounded ---------------------------------------------


def test_thousands_of_turns_give_a_bounded_digest(tmp_path: Path) -> None:
    store = Store(tmp_path / "h.db")
    conv = store.create_conversation(model="m", workdir=str(tmp_path))
    for n in range(3000):
        store.add_message(conv, Message("user", f"request {n}: " + "why " * 100))
        ex = store.start_execution(conv, block_id=f"b{n}", language="python", code="x",
                                   approved_by="auto")  # fmt: skip
        store.finish_execution(ex, ExecutionDone(ex, "ok", 0.1, files=(f"out{n}.csv",)))
        store.add_message(conv, Message("assistant", f"Answer {n}. " + "because " * 100))
    items = store.get_conversation(conv).items
    text = digest(items, 4000)
    assert len(text) <= 4100
    assert "request 0:" in text and "request 2999:" in text  # the first goal and the latest
    assert "left out here" in text
    store.close()


def test_a_huge_single_output_does_not_reach_the_digest(tmp_path: Path) -> None:
    store = Store(tmp_path / "h.db")
    conv = store.create_conversation(model="m", workdir=str(tmp_path))
    store.add_message(conv, Message("user", "print a lot " + "x" * 100_000))
    ex = store.start_execution(conv, block_id="b", language="python", code="print('y' * 10**7)",
                               approved_by="auto")  # fmt: skip
    store.add_output(ex, Output("stdout", "y" * 2_000_000))
    store.finish_execution(ex, ExecutionDone(ex, "error", 0.1, error_name="MemoryError",
                                             error_value="z" * 100_000))  # fmt: skip
    store.add_message(conv, Message("assistant", "It printed. " + "w" * 100_000))
    text = digest(store.get_conversation(conv).items, 2000)
    assert len(text) < 1200 and "MemoryError" in text and "(not fixed)" in text
    assert "yyyy" not in text
    store.close()


def test_the_header_counts_requests() -> None:
    assert "first 1 request of" in HEADER.format(turns=1, s="")


def test_a_resumed_conversation_is_sent_with_its_compaction(
    settings: Settings, pool: KernelPool
) -> None:
    model = ScriptedModel()
    with Session(settings, model=model, kernels=pool, approver=auto_approve) as s:
        for text in (FIRST, SECOND):
            list(s.run(text))
        made = compact_now(Past(s.store, s.conversation_id), s.messages, 10_000)
        conv = s.conversation_id
    assert made is not None
    model = ScriptedModel()
    with Session(settings, model=model, conversation_id=conv, kernels=pool) as s:
        list(s.run("and then?"))
    sent = [m.content for m in model.calls[-1][1:]]
    assert sent[0] == made.text and sent[1:3] == [SECOND, "Done."] and sent[-1] == "and then?"


def test_turned_off_the_oldest_turns_are_dropped_instead(
    settings: Settings, pool: KernelPool, fakes: dict[str, FakeKernel]
) -> None:
    from dataclasses import replace

    model = ScriptedModel(tools=True, context_window=WINDOW)
    quiet = replace(settings, compact=False)
    with Session(quiet, model=model, kernels=pool, approver=auto_approve) as s:
        script_long_conversation(model, fakes["python"], turns=20)
        for text in [FIRST, SECOND, *(f"step {n}: go on. {PAD}" for n in range(20))]:
            list(s.run(text))
        record = s.store.get_conversation(s.conversation_id)
    assert not record.compactions
    last = model.calls[-1]
    assert not any(m.content.startswith("(loci: the first") for m in last)
    assert all(FIRST not in m.content for m in last)  # forgotten, as before compaction
