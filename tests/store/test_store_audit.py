"""The audit log: who approved, which sandbox, the risk, limits hit — in the store and `show`."""

from __future__ import annotations

from pathlib import Path

from loci.events import ExecutionDone, Output
from loci.export import export_markdown
from loci.store import Store
from loci.store.migrations import applied


def test_audit_columns_round_trip(tmp_path: Path) -> None:
    with Store(tmp_path / "h.db") as store:
        assert "m003_audit" in applied(store._db)
        conv = store.create_conversation(model="m", workdir=str(tmp_path))
        ran = store.start_execution(
            conv, block_id="b1", language="python", code="print('x' * 10**9)",
            approved_by="auto", sandbox="workspace,no-network",
        )  # fmt: skip
        store.add_output(ran, Output(stream="stdout", data="xxx"))
        done = ExecutionDone(ran, "interrupted", 1.5, message="stopped: output limit reached")
        store.finish_execution(ran, done, output_bytes=10**9, truncated=True, limit_hit="output")
        store.record_refusal(
            conv, block_id="b2", language="shell", code="rm -rf ~", approved_by="policy",
            reason="refused by policy: this code deletes outside the workspace (rm ~)",
            risk="deletes outside the workspace (rm ~)", sandbox="workspace",
        )  # fmt: skip
        record = store.get_conversation(conv)
    first, refused = record.executions
    assert first.sandbox == "workspace,no-network"
    assert (first.truncated, first.limit_hit) == (True, "output")
    assert first.output_bytes == 10**9 and first.to_dict()["truncated"] is True
    assert (refused.status, refused.approved_by) == ("denied", "policy")
    assert refused.risk.startswith("deletes outside")
    md = export_markdown(record)
    assert "Audit: at " in md and "by auto · sandbox workspace,no-network" in md
    assert "limit hit: output" in md and "output cut" in md
    assert "### Not run: shell (denied, by policy)" in md and "risk: deletes outside" in md
    assert "refused by policy" in md


def test_older_databases_are_migrated(tmp_path: Path) -> None:
    import sqlite3

    from loci.store import migrations

    db = sqlite3.connect(tmp_path / "old.db", isolation_level=None)
    for fn in migrations.MIGRATIONS[:2]:
        fn(db)
    migrations._ensure_table(db)
    for fn in migrations.MIGRATIONS[:2]:
        db.execute("INSERT INTO _migrations VALUES (?, 0)", (fn.__name__,))
    db.close()
    with Store(tmp_path / "old.db") as store:
        conv = store.create_conversation(model="m", workdir="/")
        store.start_execution(conv, block_id="b", language="python", code="1", approved_by="user")
        assert store.get_conversation(conv).executions[0].risk == ""


def test_message_origin_is_classified_once_for_older_databases(tmp_path: Path) -> None:
    import sqlite3

    from loci.coaching import FINAL_NOTE
    from loci.messages import Message
    from loci.store import migrations

    before = [fn for fn in migrations.MIGRATIONS if fn.__name__ < "m006"]
    db = sqlite3.connect(tmp_path / "old.db", isolation_level=None)
    migrations._ensure_table(db)
    for fn in before:
        fn(db)
        db.execute("INSERT INTO _migrations VALUES (?, 0)", (fn.__name__,))
    db.execute(
        "INSERT INTO conversations (id, title, model, workdir, created, updated, last_seq)"
        " VALUES (1, '', 'm', '/', 0, 0, 4)"
    )
    rows = [("user", "sum it"), ("assistant", "ok"), ("tool", "3"), ("user", FINAL_NOTE)]
    for seq, (role, content) in enumerate(rows, 1):
        db.execute(
            "INSERT INTO messages (conversation_id, seq, role, content, tool_calls,"
            " tool_call_id, created) VALUES (1, ?, ?, ?, '[]', '', 0)",
            (seq, role, content),
        )
    db.close()
    with Store(tmp_path / "old.db") as store:
        assert [m.by for m in store.messages(1)] == ["person", "model", "loci", "loci"]
        store.add_message(1, Message("user", FINAL_NOTE))  # typed by the person this time
        assert store.messages(1)[-1].by == "person"
        assert store.truncate_from_last_request(1) == 1  # only what the person wrote
