"""Going back: ``Session.branch`` continues from before an earlier request, with fresh kernels."""

from __future__ import annotations

import pytest

from loci.approval import auto_approve
from loci.config import Settings
from loci.errors import NotFoundError
from loci.events import KernelResult, Output, TurnDone
from loci.kernels.fake import FakeKernel
from loci.kernels.pool import KernelPool
from loci.models.scripted import ScriptedModel
from loci.prompts import RESUMED_NOTE
from loci.session import Session
from loci.store import Store


def test_branch_sends_the_earlier_messages_the_edit_and_the_restart_note(
    settings: Settings, fake_pool: KernelPool, fakes: dict[str, FakeKernel]
) -> None:
    model = ScriptedModel(
        ["```python\nrows = 7\nprint(rows)\n```", "There are 7 rows.", "Doubled: 14.", "Tripled."]
    )
    with Session(settings, model=model, kernels=fake_pool, approver=auto_approve) as s:
        first = s.kernels.get("python")
        assert isinstance(first, FakeKernel)
        first.enqueue(Output("stdout", "7\n"), KernelResult("ok"))
        list(s.run("count the rows"))
        list(s.run("double it"))
        parent = s.conversation_id
        branch = s.branch(2)
        assert branch != parent and s.conversation_id == branch
        assert first.shutdowns == 1 and fakes["python"] is not first  # fresh kernels
        events = list(s.run("triple it"))
    done = events[-1]
    assert isinstance(done, TurnDone) and done.conversation_id == branch
    sent = [m.content for m in model.calls[-1]]
    assert "count the rows" in sent and "7" in sent and "There are 7 rows." in sent
    assert sent[-2:] == [RESUMED_NOTE, "triple it"]
    assert "double it" not in sent and "Doubled: 14." not in sent
    with Store(settings.db_path) as store:
        old = store.get_conversation(parent)
        new = store.get_conversation(branch)
    assert [r.content for r in old.requests] == ["count the rows", "double it"]
    assert [r.content for r in new.requests] == ["count the rows", "triple it"]
    assert new.summary.parent_id == parent and new.summary.branched_at_request == 2


def test_branch_from_the_first_request_needs_no_note(
    settings: Settings, fake_pool: KernelPool
) -> None:
    model = ScriptedModel(["one", "uno"])
    with Session(settings, model=model, kernels=fake_pool) as s:
        list(s.run("say one"))
        s.branch(1)
        list(s.run("say one in Spanish"))
        title = s.store.get_conversation(s.conversation_id).title
    assert [m.content for m in model.calls[-1][1:]] == ["say one in Spanish"]
    assert title == "say one in Spanish"


def test_branch_from_a_request_that_is_not_there(settings: Settings, fake_pool: KernelPool) -> None:
    with Session(settings, model=ScriptedModel(["one"]), kernels=fake_pool) as s:
        list(s.run("say one"))
        before = s.conversation_id
        with pytest.raises(NotFoundError, match="no request 2"):
            s.branch(2)
        assert s.conversation_id == before and len(s.messages) == 2
