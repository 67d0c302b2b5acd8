"""``Session.execute``: code from another program's model, run and stored like loci's own."""

from __future__ import annotations

from collections.abc import Generator, Iterator

import pytest

from loci.approval import Decision, auto_approve
from loci.config import Settings
from loci.direct import ExternalModel
from loci.errors import KernelError, ModelError
from loci.events import (
    Approval,
    CodeBlock,
    Event,
    ExecutionDone,
    KernelEvent,
    KernelResult,
    Output,
)
from loci.kernels.fake import FakeKernel
from loci.kernels.pool import KernelPool
from loci.session import Session
from loci.store import Store


def drain(run: Generator[Event, None, str]) -> tuple[list[Event], str]:
    events: list[Event] = []
    while True:
        try:
            events.append(next(run))
        except StopIteration as end:
            return events, end.value


def session_of(settings: Settings, pool: KernelPool, **kw: object) -> Session:
    return Session(settings, model=ExternalModel("mcp:test"), kernels=pool, **kw)  # type: ignore[arg-type]


def test_a_block_runs_and_is_stored_as_a_call_and_its_result(
    settings: Settings, fake_pool: KernelPool, fakes: dict[str, FakeKernel]
) -> None:
    with session_of(settings, fake_pool, approver=auto_approve) as session:
        session.kernels.get("python")
        fakes["python"].enqueue(Output(stream="stdout", data="42\n"))
        events, text = drain(session.execute("python", "print(6 * 7)"))
        assert [e.type for e in events] == [
            "code", "approval", "execution_start", "output", "execution_done"
        ]  # fmt: skip
        assert text == "42"
        record = Store(settings.db_path).get_conversation(session.conversation_id)
    assert record.summary.model == "mcp:test"
    assert record.title == "print(6 * 7)"
    note, call, result = record.messages
    assert note.by == "loci" and "mcp:test" in note.content
    assert call.role == "assistant" and call.tool_calls[0].code == "print(6 * 7)"
    assert result.role == "tool" and result.tool_call_id == call.tool_calls[0].id
    assert result.content == "42"
    assert [e.status for e in record.executions] == ["ok"]


def test_a_refused_block_is_stored_with_why(settings: Settings, fake_pool: KernelPool) -> None:
    def no(block: CodeBlock) -> Decision:
        return Decision(False, "user", reason="not today")

    with session_of(settings, fake_pool, approver=no) as session:
        events, text = drain(session.execute("python", "print(1)"))
        approval = next(e for e in events if isinstance(e, Approval))
        assert not approval.approved
        assert text == "[not run: not today]"
        assert not any(isinstance(e, ExecutionDone) for e in events)
        assert session.messages[-1].content == text


class BrokenKernel(FakeKernel):
    def execute(self, code: str, **kw: object) -> Iterator[KernelEvent]:
        raise KernelError("no kernel today")


def test_a_kernel_that_cannot_start_still_leaves_the_call_its_result(
    settings: Settings,
) -> None:
    pool = KernelPool(settings.workdir, factory=lambda lang: BrokenKernel(lang, settings.workdir))
    with session_of(settings, pool, approver=auto_approve) as session:
        with pytest.raises(KernelError):
            drain(session.execute("python", "print(1)"))
        assert session.messages[-1].role == "tool"
        assert "no kernel today" in session.messages[-1].content


def test_an_interrupt_before_the_block_does_not_stop_it(
    settings: Settings, fake_pool: KernelPool, fakes: dict[str, FakeKernel]
) -> None:
    with session_of(settings, fake_pool, approver=auto_approve) as session:
        session.interrupt()  # meant for an earlier block
        session.kernels.get("python")
        fakes["python"].enqueue(KernelResult("ok"))
        events, _ = drain(session.execute("python", "1"))
        assert [e.status for e in events if isinstance(e, ExecutionDone)] == ["ok"]


def test_the_stand_in_model_is_never_asked() -> None:
    with pytest.raises(ModelError, match="resume it with a model"):
        list(ExternalModel("mcp:x").stream([]))
