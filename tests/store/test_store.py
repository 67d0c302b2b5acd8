"""The history database: roundtrips, ordering, undo, persistence, threads and bad files."""

from __future__ import annotations

import itertools
import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from loci.errors import NotFoundError, StoreError
from loci.events import ExecutionDone, Output, Usage
from loci.messages import Message, ToolCall
from loci.store import ExecutionRecord, MessageRecord, Store, migrations


def fake_clock(start: float = 1_700_000_000.0) -> Callable[[], float]:
    ticks = itertools.count()
    return lambda: start + next(ticks)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "nested" / "dir" / "history.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[Store]:
    with Store(db_path, clock=fake_clock()) as s:
        yield s


def run_block(store: Store, conv: int, outputs: list[Output], block: str = "b1") -> int:
    ex = store.start_execution(
        conv, block_id=block, language="python", code="print(1)", approved_by="user"
    )
    for out in outputs:
        store.add_output(ex, out)
    store.finish_execution(ex, ExecutionDone(ex, "ok", 0.25, files=("out.png",)))
    return ex


def test_creates_parent_dirs_and_uses_wal(store: Store, db_path: Path) -> None:
    assert db_path.exists()
    with sqlite3.connect(db_path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    raw.close()


def test_message_roundtrip_with_tool_calls(store: Store) -> None:
    conv = store.create_conversation(model="scripted", workdir="/w")
    sent = [
        Message("system", "be brief"),
        Message("user", "sum 1..10"),
        Message(
            "assistant",
            "",
            tool_calls=(
                ToolCall("call_1", "python", "sum(range(11))"),
                ToolCall("c2", "shell", "ls"),
            ),
        ),
        Message("tool", "55", tool_call_id="call_1"),
        Message("assistant", "It is **55**. ```nested``` and ünïcode"),
    ]
    ids = [store.add_message(conv, m) for m in sent]
    assert ids == sorted(ids)
    assert store.messages(conv) == sent


def test_execution_keeps_every_output_in_order(store: Store) -> None:
    conv = store.create_conversation(model="m", workdir="/w")
    outs = [Output("stdout", f"line {i}\n") for i in range(200)]
    outs.insert(50, Output("stderr", "warn\n"))
    outs.append(Output("display", "iVBORw0KGgo=", "image/png", "<Figure>", "/w/fig.png"))
    outs.append(Output("result", "<b>x</b>", "text/html", "x"))
    big = "x" * 1_000_000
    outs.append(Output("stdout", big))
    ex = run_block(store, conv, outs)

    (record,) = store.get_conversation(conv).executions
    assert record.id == ex
    assert record.status == "ok"
    assert record.duration == 0.25
    assert record.files == ("out.png",)
    assert [o.data for o in record.outputs] == [o.data for o in outs]
    assert record.outputs[51] == Output("stdout", "line 50\n", execution_id=ex)
    assert record.outputs[-3].path == "/w/fig.png"
    assert store.get_execution(ex) == record


def test_unfinished_execution_is_visible(store: Store) -> None:
    conv = store.create_conversation(model="m", workdir="/w")
    ex = store.start_execution(
        conv, block_id="b", language="shell", code="sleep 9", approved_by="auto"
    )
    store.add_output(ex, Output("stdout", "started\n"))
    record = store.get_execution(ex)
    assert record.status == "running"
    assert record.duration is None
    assert record.exit_code is None
    assert [o.data for o in record.outputs] == ["started\n"]


def test_finish_records_error_details(store: Store) -> None:
    conv = store.create_conversation(model="m", workdir="/w")
    ex = store.start_execution(
        conv, block_id="b", language="python", code="1/0", approved_by="policy", sandbox="workspace"
    )
    store.finish_execution(
        ex,
        ExecutionDone(
            ex,
            "error",
            0.5,
            exit_code=1,
            error_name="ZeroDivisionError",
            error_value="division by zero",
            message="boom",
        ),
    )
    r = store.get_execution(ex)
    assert (r.status, r.exit_code, r.error_name, r.error_value, r.message, r.sandbox) == (
        "error",
        1,
        "ZeroDivisionError",
        "division by zero",
        "boom",
        "workspace",
    )


def test_items_interleave_in_the_order_they_happened(store: Store) -> None:
    conv = store.create_conversation(model="m", workdir="/w", title="t")
    other = store.create_conversation(model="m", workdir="/w")
    store.add_message(conv, Message("user", "go"))
    store.add_message(other, Message("user", "elsewhere"))
    store.add_message(conv, Message("assistant", "```python\nprint(1)\n```"))
    run_block(store, conv, [Output("stdout", "1\n")], "b1")
    store.add_message(conv, Message("user", "output: 1"))
    run_block(store, conv, [Output("stdout", "2\n")], "b2")
    store.add_message(conv, Message("assistant", "done"))

    record = store.get_conversation(conv)
    kinds = [i.content if isinstance(i, MessageRecord) else i.block_id for i in record.items]
    assert kinds == ["go", "```python\nprint(1)\n```", "b1", "output: 1", "b2", "done"]
    assert [i.seq for i in record.items] == sorted(i.seq for i in record.items)
    assert record.summary.message_count == 4
    assert record.title == "t"


def test_history_newest_first_by_last_activity(store: Store) -> None:
    a = store.create_conversation(model="m", workdir="/w", title="a")
    b = store.create_conversation(model="m", workdir="/w", title="b")
    c = store.create_conversation(model="m", workdir="/w", title="c")
    assert [s.id for s in store.list_conversations()] == [c, b, a]
    store.add_message(a, Message("user", "hi"))  # a becomes the most recent
    summaries = store.list_conversations()
    assert [s.id for s in summaries] == [a, c, b]
    assert summaries[0].message_count == 1
    assert summaries[0].updated > summaries[0].created
    assert [s.id for s in store.list_conversations(limit=2)] == [a, c]


def test_usage_title_and_model(store: Store) -> None:
    conv = store.create_conversation(model="local:qwen", workdir="/w")
    store.add_usage(conv, Usage(100, 20))
    store.add_usage(conv, Usage(50, 5))
    store.set_title(conv, "Monthly totals")
    store.set_model(conv, "openai:gpt-4.1-mini")
    s = store.get_conversation(conv).summary
    assert (s.prompt_tokens, s.completion_tokens, s.total_tokens) == (150, 25, 175)
    assert (s.title, s.model, s.workdir) == ("Monthly totals", "openai:gpt-4.1-mini", "/w")


def test_unknown_ids_raise_not_found(store: Store) -> None:
    with pytest.raises(NotFoundError, match="no conversation with id 42"):
        store.get_conversation(42)
    for call in (
        lambda: store.messages(42),
        lambda: store.add_message(42, Message("user", "x")),
        lambda: store.set_title(42, "x"),
        lambda: store.add_usage(42, Usage(1, 1)),
        lambda: store.truncate_from_last_request(42),
        lambda: store.start_execution(
            42, block_id="b", language="python", code="", approved_by="u"
        ),
        lambda: store.add_output(7, Output("stdout", "x")),
        lambda: store.finish_execution(7, ExecutionDone(7, "ok", 0.0)),
        lambda: store.get_execution(7),
        lambda: store.delete_conversation(42),
    ):
        with pytest.raises(NotFoundError):
            call()
    assert issubclass(NotFoundError, StoreError)


def test_truncate_from_last_request(store: Store) -> None:
    conv = store.create_conversation(model="m", workdir="/w")
    store.add_message(conv, Message("user", "first"))
    store.add_message(conv, Message("assistant", "ok"))
    store.add_message(conv, Message("user", "second"))
    store.add_message(conv, Message("assistant", "running"))
    ex = run_block(store, conv, [Output("stdout", "x\n")])
    store.add_message(conv, Message("tool", "x", tool_call_id="c"))

    assert store.truncate_from_last_request(conv) == 4
    assert [m.content for m in store.messages(conv)] == ["first", "ok"]
    assert store.get_conversation(conv).executions == []
    with pytest.raises(NotFoundError):
        store.get_execution(ex)  # its outputs went with it (cascade)

    store.add_message(conv, Message("user", "again"))
    assert [i.seq for i in store.get_conversation(conv).items] == [1, 2, 7]
    assert store.truncate_from_last_request(conv) == 1
    assert store.truncate_from_last_request(conv) == 2
    assert store.truncate_from_last_request(conv) == 0


def test_delete_conversation_cascades(store: Store, db_path: Path) -> None:
    conv = store.create_conversation(model="m", workdir="/w")
    store.add_message(conv, Message("user", "x"))
    run_block(store, conv, [Output("stdout", "y")])
    store.delete_conversation(conv)
    assert store.list_conversations() == []
    with sqlite3.connect(db_path) as raw:
        counts = [
            raw.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
            for t in ("messages", "executions", "outputs")
        ]
    raw.close()
    assert counts == [0, 0, 0]


def test_persists_across_reopen(db_path: Path) -> None:
    with Store(db_path) as s:
        conv = s.create_conversation(model="m", workdir="/w", title="kept")
        s.add_message(conv, Message("user", "hello"))
        ex = s.start_execution(conv, block_id="b", language="python", code="1", approved_by="u")
        s.add_output(ex, Output("result", "1"))
        # no finish, no close: what was written is already committed
        other = Store(db_path)
        assert other.messages(conv) == [Message("user", "hello")]
        assert other.get_execution(ex).outputs[0].data == "1"
        other.close()
    with Store(db_path) as s:
        record = s.get_conversation(conv)
        assert record.title == "kept"
        assert len(record.items) == 2


def test_write_from_another_thread(store: Store) -> None:
    conv = store.create_conversation(model="m", workdir="/w")
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(20):
                store.add_message(conv, Message("user", f"{n}-{i}"))
        except BaseException as exc:  # reported below, in the test thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    contents = [m.content for m in store.messages(conv)]
    assert len(contents) == 80
    assert [c for c in contents if c.startswith("2-")] == [f"2-{i}" for i in range(20)]


def test_corrupt_file_gives_store_error(tmp_path: Path) -> None:
    path = tmp_path / "history.db"
    path.write_bytes(b"this is not sqlite at all " * 200)
    with pytest.raises(StoreError, match="not a usable history database") as info:
        Store(path)
    assert str(path) in str(info.value)
    assert info.value.exit_code == 5


def test_directory_in_the_way_gives_store_error(tmp_path: Path) -> None:
    (tmp_path / "history.db").mkdir()
    with pytest.raises(StoreError, match=str(tmp_path)):
        Store(tmp_path / "history.db")


def test_use_after_close_gives_store_error(db_path: Path) -> None:
    s = Store(db_path)
    s.close()
    s.close()  # idempotent
    with pytest.raises(StoreError, match="closed"):
        s.list_conversations()


def test_migrations_idempotent(db_path: Path) -> None:
    names = [fn.__name__ for fn in migrations.MIGRATIONS]
    Store(db_path).close()
    with sqlite3.connect(db_path, isolation_level=None) as raw:
        assert migrations.applied(raw) == names
        assert migrations.migrate(raw) == []
        assert migrations.applied(raw) == names
    raw.close()
    with Store(db_path) as s:
        s.create_conversation(model="m", workdir="/w")


def test_migrate_fresh_connection_records_each(tmp_path: Path) -> None:
    raw = sqlite3.connect(tmp_path / "x.db", isolation_level=None)
    try:
        assert migrations.migrate(raw) == [fn.__name__ for fn in migrations.MIGRATIONS]
        tables = {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"_migrations", "conversations", "messages", "executions", "outputs"} <= tables
    finally:
        raw.close()


def test_to_dict_is_json_serialisable(store: Store) -> None:
    conv = store.create_conversation(model="m", workdir="/w")
    store.add_message(conv, Message("assistant", "", tool_calls=(ToolCall("c", "python", "1"),)))
    run_block(store, conv, [Output("display", "AAAA", "image/png", "", "/w/a.png")])
    record = store.get_conversation(conv)
    d = json.loads(json.dumps(record.to_dict()))
    assert d["id"] == conv
    assert [i["kind"] for i in d["items"]] == ["message", "execution"]
    assert d["items"][0]["tool_calls"] == [{"id": "c", "language": "python", "code": "1"}]
    assert d["items"][1]["outputs"][0]["path"] == "/w/a.png"
    assert d["items"][1]["files"] == ["out.png"]
    history = [json.loads(json.dumps(s.to_dict())) for s in store.list_conversations()]
    assert history[0]["id"] == conv
    assert isinstance(record.items[1], ExecutionRecord)
