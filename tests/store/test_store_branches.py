"""Branches in the store: a copy of what came before an edited request; the parent untouched."""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from loci.errors import NotFoundError
from loci.events import ExecutionDone, Output
from loci.messages import Message
from loci.store import ExecutionRecord, Store


def three_requests(store: Store) -> int:
    """A conversation: request, code and answer; a loci note; two more requests."""
    conv = store.create_conversation(model="scripted", workdir="/w", title="first one")
    store.set_instructions(conv, "be kind", "AGENTS.md")
    store.add_message(conv, Message("user", "first one"))
    ex = store.start_execution(
        conv, block_id="b1", language="python", code="print(1)", approved_by="user"
    )
    store.add_output(ex, Output("stdout", "1\n"))
    store.finish_execution(ex, ExecutionDone(ex, "ok", 0.5))
    store.add_message(conv, Message("assistant", "it is 1"))
    store.add_message(conv, Message("user", "a note from loci", origin="loci"))
    store.add_message(conv, Message("user", "second one"))
    store.add_message(conv, Message("assistant", "two"))
    store.add_message(conv, Message("user", "third one"))
    store.add_message(conv, Message("assistant", "three"))
    return conv


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    ticks = itertools.count()
    with Store(tmp_path / "history.db", clock=lambda: 1_700_000_000.0 + next(ticks)) as s:
        yield s


def test_branch_copies_what_came_before_the_request(store: Store) -> None:
    conv = three_requests(store)
    before = store.get_conversation(conv).to_dict()
    branch = store.branch(conv, 2)  # the loci note does not count as a request
    record = store.get_conversation(branch)
    assert [m.content for m in record.messages] == ["first one", "it is 1", "a note from loci"]
    (ex,) = record.executions
    assert isinstance(ex, ExecutionRecord) and ex.status == "ok"
    assert [o.text or o.data for o in ex.outputs] == ["1\n"]
    assert ex.id != store.get_conversation(conv).executions[0].id  # a copy, not a move
    assert record.summary.parent_id == conv and record.summary.branched_at_request == 2
    assert (record.title, record.instructions) == ("first one", "be kind")
    assert store.get_conversation(conv).to_dict() == before  # the parent is untouched
    assert store.get_conversation(conv).summary.parent_id is None


def test_branch_goes_on_numbering_after_the_copy(store: Store) -> None:
    conv = three_requests(store)
    branch = store.branch(conv, 3)
    store.add_message(branch, Message("user", "third, edited"))
    record = store.get_conversation(branch)
    seqs = [i.seq for i in record.items]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert [r.content for r in record.requests] == ["first one", "second one", "third, edited"]
    numbers = [i.get("request") for i in record.to_dict()["items"] if i["kind"] == "message"]
    assert numbers == [1, None, None, 2, None, 3]
    # undo on a branch is undo on its own rows: back to the copy
    store.truncate_from_last_request(branch)
    assert len(store.get_conversation(branch).requests) == 2
    assert len(store.get_conversation(conv).requests) == 3


def test_branch_at_the_first_request_is_empty(store: Store) -> None:
    conv = three_requests(store)
    record = store.get_conversation(store.branch(conv, 1))
    assert record.items == () and record.summary.branched_at_request == 1


def test_unknown_request_or_conversation(store: Store) -> None:
    conv = three_requests(store)
    for n in (0, 4, -1):
        with pytest.raises(NotFoundError, match=f"no request {n}"):
            store.branch(conv, n)
    with pytest.raises(NotFoundError, match="no conversation"):
        store.branch(999, 1)
    assert len(store.list_conversations()) == 1  # nothing half-made


def test_deleting_the_parent_keeps_the_branch(store: Store) -> None:
    conv = three_requests(store)
    branch = store.branch(conv, 2)
    store.delete_conversation(conv)
    summary = store.get_conversation(branch).summary
    assert summary.parent_id is None and len(store.get_conversation(branch).messages) == 3


def test_migration_adds_the_columns(store: Store, tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "history.db") as raw:
        cols = {row[1] for row in raw.execute("PRAGMA table_info(conversations)")}
        names = {row[0] for row in raw.execute("SELECT name FROM _migrations")}
    raw.close()
    assert {"parent_id", "branched_at_seq"} <= cols and "m009_branches" in names
