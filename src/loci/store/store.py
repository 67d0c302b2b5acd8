"""The history database: every conversation, message and execution, written as it happens.

One SQLite file (the connection, its transactions and error translation in ``database.py``;
the schema and its intent in ``migrations.py``). Every write commits before the method
returns; an unknown id is a ``NotFoundError``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from typing import Any

from loci.errors import NotFoundError
from loci.events import ExecutionDone, Grounding, Output, Usage
from loci.messages import Message, ToolCall
from loci.store import branches
from loci.store.database import Database
from loci.store.records import (
    CompactionRecord,
    ConversationRecord,
    ConversationSummary,
    ExecutionRecord,
    Item,
    MessageRecord,
    grounding_dict,
)

_SUMMARY_SQL = """
    SELECT c.id, c.title, c.model, c.workdir, c.created, c.updated,
           (SELECT COUNT(*) FROM messages m WHERE m.conversation_id = c.id) AS message_count,
           c.prompt_tokens, c.completion_tokens, c.parent_id, c.branched_at_seq,
           (SELECT COUNT(*) + 1 FROM messages m WHERE m.conversation_id = c.id
            AND m.role = 'user' AND m.origin = 'person' AND m.seq < c.branched_at_seq)
            AS branched_at_request
    FROM conversations c
"""

_EXECUTION_COLUMNS = (
    "id, seq, block_id, language, code, approved_by, sandbox, status, started, duration,"
    " exit_code, error_name, error_value, message, files, risk, output_bytes, truncated,"
    " limit_hit"
)


class Store(Database):
    """The history database at ``path`` (created, with its parent folders, if missing).

    ``clock`` gives the current time as a unix timestamp; tests pass a fake one.
    """

    def _touch(self, db: sqlite3.Connection, conv_id: int, *, seq: bool = False) -> int:
        """Mark activity on ``conv_id``; with ``seq``, take and return its next sequence number."""
        bump = ", last_seq = last_seq + 1" if seq else ""
        cur = db.execute(
            f"UPDATE conversations SET updated = ?{bump} WHERE id = ?", (self.now(), conv_id)
        )
        if cur.rowcount == 0:
            raise NotFoundError(f"no conversation with id {conv_id}")
        row = db.execute("SELECT last_seq FROM conversations WHERE id = ?", (conv_id,)).fetchone()
        return int(row[0])

    # -- writes -----------------------------------------------------------------------------

    def create_conversation(self, *, model: str, workdir: str, title: str = "") -> int:
        now = self.now()
        with self.write("create a conversation in") as db:
            cur = db.execute(
                "INSERT INTO conversations (title, model, workdir, created, updated)"
                " VALUES (?, ?, ?, ?, ?)",
                (title, model, workdir, now, now),
            )
            return _rowid(cur)

    def set_title(self, conv_id: int, title: str) -> None:
        self._set(conv_id, "title", title)

    def set_model(self, conv_id: int, model: str) -> None:
        self._set(conv_id, "model", model)

    def set_instructions(self, conv_id: int, text: str, source: str) -> None:
        """Record the project instructions (AGENTS.md) the model is given, and their files."""
        self._set(conv_id, "instructions", text)
        self._set(conv_id, "instructions_source", source)

    def _set(self, conv_id: int, column: str, value: str) -> None:
        with self.write(f"set the {column} in") as db:
            cur = db.execute(
                f"UPDATE conversations SET {column} = ? WHERE id = ?", (value, conv_id)
            )
            if cur.rowcount == 0:
                raise NotFoundError(f"no conversation with id {conv_id}")

    def add_message(self, conv_id: int, message: Message) -> int:
        calls = json.dumps(
            [{"id": c.id, "language": c.language, "code": c.code} for c in message.tool_calls]
        )
        with self.write("add a message to") as db:
            seq = self._touch(db, conv_id, seq=True)
            cur = db.execute(
                "INSERT INTO messages"
                " (conversation_id, seq, role, origin, content, tool_calls, tool_call_id, created,"
                " images) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    conv_id,
                    seq,
                    message.role,
                    message.by,
                    message.content,
                    calls,
                    message.tool_call_id,
                    self.now(),
                    json.dumps(list(message.images)),
                ),
            )
            return _rowid(cur)

    def last_seq(self, conv_id: int) -> int:
        """The ``seq`` of the conversation's newest message or execution (0: none yet)."""
        with self.read("read") as db:
            row = db.execute(
                "SELECT last_seq FROM conversations WHERE id = ?", (conv_id,)
            ).fetchone()
        if row is None:
            raise NotFoundError(f"no conversation with id {conv_id}")
        return int(row[0])

    def set_aside(self, conv_id: int, after: int, upto: int, *, aside: bool = True) -> None:
        """Mark the messages with ``after < seq <= upto`` as set aside (``aside`` False: no
        longer): kept in the history, not sent to a model (an attempt the vote did not keep,
        ``loci.vote``)."""
        with self.write("set aside messages in") as db:
            db.execute(
                "UPDATE messages SET set_aside = ?"
                " WHERE conversation_id = ? AND seq > ? AND seq <= ?",
                (int(aside), conv_id, after, upto),
            )

    def set_grounding(self, message_id: int, grounding: Grounding) -> None:
        """Keep what the grounding check found in a final answer (message ``message_id``)."""
        data = json.dumps(grounding_dict(grounding))
        with self.write("record the grounding of an answer in") as db:
            db.execute("UPDATE messages SET grounding = ? WHERE id = ?", (data, message_id))

    def start_execution(
        self,
        conv_id: int,
        *,
        block_id: str,
        language: str,
        code: str,
        approved_by: str,
        sandbox: str = "off",
        risk: str = "",
    ) -> int:
        row = {"block_id": block_id, "language": language, "code": code,
               "approved_by": approved_by, "sandbox": sandbox, "risk": risk}  # fmt: skip
        return self._insert_execution(conv_id, row, "record an execution in")

    def record_refusal(
        self,
        conv_id: int,
        *,
        block_id: str,
        language: str,
        code: str,
        approved_by: str,
        reason: str,
        risk: str = "",
        sandbox: str = "off",
    ) -> int:
        """A block that was not run (refused by a person or the policy), for the audit log."""
        row = {"block_id": block_id, "language": language, "code": code,
               "approved_by": approved_by, "sandbox": sandbox, "risk": risk,
               "status": "denied", "message": reason, "duration": 0}  # fmt: skip
        return self._insert_execution(conv_id, row, "record a refusal in")

    def _insert_execution(self, conv_id: int, row: Mapping[str, object], action: str) -> int:
        """One executions row: ``row``'s columns (names from this module only), numbered."""
        with self.write(action) as db:
            seq = self._touch(db, conv_id, seq=True)
            cols = {"conversation_id": conv_id, "seq": seq, **row, "started": self.now()}
            marks = ", ".join("?" * len(cols))
            cur = db.execute(
                f"INSERT INTO executions ({', '.join(cols)}) VALUES ({marks})", tuple(cols.values())
            )
            return _rowid(cur)

    def add_output(self, execution_id: int, output: Output) -> None:
        with self.write("record an output in") as db:
            if (
                db.execute("SELECT 1 FROM executions WHERE id = ?", (execution_id,)).fetchone()
                is None
            ):
                raise NotFoundError(f"no execution with id {execution_id}")
            row = db.execute(
                "SELECT COALESCE(MAX(idx), -1) + 1 FROM outputs WHERE execution_id = ?",
                (execution_id,),
            ).fetchone()
            db.execute(
                "INSERT INTO outputs (execution_id, idx, stream, mime, data, text, path)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    execution_id,
                    int(row[0]),
                    output.stream,
                    output.mime,
                    output.data,
                    output.text,
                    output.path,
                ),
            )

    def finish_execution(
        self,
        execution_id: int,
        done: ExecutionDone,
        *,
        output_bytes: int = 0,
        truncated: bool = False,
        limit_hit: str = "",
    ) -> None:
        with self.write("finish an execution in") as db:
            cur = db.execute(
                "UPDATE executions SET status = ?, duration = ?, exit_code = ?, error_name = ?,"
                " error_value = ?, message = ?, files = ?, output_bytes = ?, truncated = ?,"
                " limit_hit = ? WHERE id = ?",
                (
                    done.status,
                    done.duration,
                    done.exit_code,
                    done.error_name,
                    done.error_value,
                    done.message,
                    json.dumps(list(done.files)),
                    output_bytes,
                    int(truncated),
                    limit_hit,
                    execution_id,
                ),
            )
            if cur.rowcount == 0:
                raise NotFoundError(f"no execution with id {execution_id}")
            row = db.execute(
                "SELECT conversation_id FROM executions WHERE id = ?", (execution_id,)
            ).fetchone()
            self._touch(db, int(row[0]))

    def add_usage(self, conv_id: int, usage: Usage) -> None:
        with self.write("record token usage in") as db:
            cur = db.execute(
                "UPDATE conversations SET prompt_tokens = prompt_tokens + ?,"
                " completion_tokens = completion_tokens + ? WHERE id = ?",
                (usage.prompt_tokens, usage.completion_tokens, conv_id),
            )
            if cur.rowcount == 0:
                raise NotFoundError(f"no conversation with id {conv_id}")

    def add_compaction(
        self, conv_id: int, *, first_seq: int, last_seq: int, turns: int, text: str,
        method: str = "digest", reason: str = "window",
    ) -> CompactionRecord:  # fmt: skip
        """Record what a model is sent instead of items ``first_seq``..``last_seq``."""
        now = self.now()
        row = (conv_id, first_seq, last_seq, turns, method, reason, text, now)
        with self.write("record a compaction in") as db:
            self._touch(db, conv_id)
            cur = db.execute(
                "INSERT INTO compactions (conversation_id, first_seq, last_seq, turns, method,"
                " reason, text, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                row,
            )
            return CompactionRecord(_rowid(cur), *row[1:])

    def truncate_from_last_request(self, conv_id: int) -> int:
        """Delete the person's last request and everything after it (the notes loci added to
        that turn with it); return how many items went."""
        with self.write("undo in") as db:
            self._touch(db, conv_id)
            row = db.execute(
                "SELECT MAX(seq) FROM messages WHERE conversation_id = ? AND role = 'user'"
                " AND origin = 'person'",
                (conv_id,),
            ).fetchone()
            if row[0] is None:
                return 0
            removed = 0
            for table in ("messages", "executions"):
                cur = db.execute(
                    f"DELETE FROM {table} WHERE conversation_id = ? AND seq >= ?",
                    (conv_id, int(row[0])),
                )
                removed += cur.rowcount
            db.execute(  # a compaction of what is gone no longer says what the model saw
                "DELETE FROM compactions WHERE conversation_id = ? AND last_seq >= ?",
                (conv_id, int(row[0])),
            )
            return removed

    def branch(self, conv_id: int, request: int) -> int:
        """A new conversation that continues ``conv_id`` from just before the person's request
        number ``request`` (from 1): a copy of everything before it; ``conv_id`` stays as it
        is (``branches.py``). Returns the branch's id."""
        with self.write("branch a conversation in") as db:
            seq = branches.request_seq(db, conv_id, request)
            return branches.copy_before(db, conv_id, seq, self.now())

    def delete_conversation(self, conv_id: int) -> None:
        with self.write("delete a conversation from") as db:
            cur = db.execute("DELETE FROM conversations WHERE id = ?", (conv_id,))
            if cur.rowcount == 0:
                raise NotFoundError(f"no conversation with id {conv_id}")

    # -- reads ------------------------------------------------------------------------------

    def messages(self, conv_id: int) -> list[Message]:
        """The conversation's messages in order (what a resumed session sends the model): all
        but those of attempts set aside (``set_aside``)."""
        with self.read("read") as db:
            self._summary(db, conv_id)
            rows = db.execute(
                "SELECT * FROM messages WHERE conversation_id = ? AND NOT set_aside ORDER BY seq",
                (conv_id,),
            ).fetchall()
        return [_message(row) for row in rows]

    def message_seqs(self, conv_id: int) -> list[int]:
        """The ``seq`` of each of the conversation's messages, in order (as ``messages``)."""
        with self.read("read") as db:
            rows = db.execute(
                "SELECT seq FROM messages WHERE conversation_id = ? AND NOT set_aside ORDER BY seq",
                (conv_id,),
            ).fetchall()
        return [int(row[0]) for row in rows]

    def latest_compaction(self, conv_id: int) -> CompactionRecord | None:
        """The newest compaction of the conversation (what later calls reuse), if any."""
        found = self._compactions(conv_id, newest=True)
        return found[0] if found else None

    def _compactions(self, conv_id: int, *, newest: bool = False) -> list[CompactionRecord]:
        order = " ORDER BY id DESC LIMIT 1" if newest else " ORDER BY id"
        with self.read("read") as db:
            rows = db.execute(
                "SELECT id, first_seq, last_seq, turns, method, reason, text, created"
                " FROM compactions WHERE conversation_id = ?" + order,
                (conv_id,),
            ).fetchall()
        return [CompactionRecord(*row) for row in rows]

    def list_conversations(
        self, limit: int = 50, *, user_id: int | None = None
    ) -> list[ConversationSummary]:
        """Conversations by last activity, newest first (only ``user_id``'s, if given)."""
        where, args = (
            ("", (limit,)) if user_id is None else (" WHERE c.user_id = ?", (user_id, limit))
        )
        with self.read("list") as db:
            rows = db.execute(
                _SUMMARY_SQL + where + " ORDER BY c.updated DESC, c.id DESC LIMIT ?", args
            ).fetchall()
        return [_summary(row) for row in rows]

    def get_conversation(self, conv_id: int) -> ConversationRecord:
        with self.read("read") as db:
            summary = self._summary(db, conv_id)
            items: list[Item] = [
                _message_record(row)
                for row in db.execute(
                    "SELECT * FROM messages WHERE conversation_id = ?", (conv_id,)
                )
            ]
            items.extend(self._executions(db, "conversation_id = ?", conv_id))
            given = db.execute(
                "SELECT instructions, instructions_source FROM conversations WHERE id = ?",
                (conv_id,),
            ).fetchone()
        items.sort(key=lambda item: item.seq)
        compactions = tuple(self._compactions(conv_id))
        return ConversationRecord(summary, tuple(items), given[0], given[1], compactions)

    def get_execution(
        self, execution_id: int, *, conversation_id: int | None = None
    ) -> ExecutionRecord:
        """One execution with its outputs; with ``conversation_id``, only one of its own."""
        with self.read("read") as db:
            if conversation_id is None:
                found = self._executions(db, "id = ?", execution_id)
            else:
                where = "id = ? AND conversation_id = ?"
                found = self._executions(db, where, execution_id, conversation_id)
        if not found:
            where_said = "" if conversation_id is None else " in this conversation"
            raise NotFoundError(f"no execution with id {execution_id}{where_said}")
        return found[0]

    def _summary(self, db: sqlite3.Connection, conv_id: int) -> ConversationSummary:
        row = db.execute(_SUMMARY_SQL + " WHERE c.id = ?", (conv_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"no conversation with id {conv_id}")
        return _summary(row)

    def _executions(
        self, db: sqlite3.Connection, where: str, *values: int
    ) -> list[ExecutionRecord]:
        rows = db.execute(
            f"SELECT {_EXECUTION_COLUMNS} FROM executions WHERE {where} ORDER BY seq", values
        ).fetchall()
        outputs: dict[int, list[Output]] = {int(r["id"]): [] for r in rows}
        if outputs:
            marks = ",".join("?" * len(outputs))
            for o in db.execute(
                f"SELECT * FROM outputs WHERE execution_id IN ({marks}) ORDER BY execution_id, idx",
                tuple(outputs),
            ):
                outputs[int(o["execution_id"])].append(_output(o))
        return [_execution(r, outputs[int(r["id"])]) for r in rows]


# -- rows to records --------------------------------------------------------------------------


def _rowid(cur: sqlite3.Cursor) -> int:
    assert cur.lastrowid is not None
    return int(cur.lastrowid)


def _summary(row: sqlite3.Row) -> ConversationSummary:
    return ConversationSummary(
        id=int(row["id"]),
        title=str(row["title"]),
        model=str(row["model"]),
        workdir=str(row["workdir"]),
        created=float(row["created"]),
        updated=float(row["updated"]),
        message_count=int(row["message_count"]),
        prompt_tokens=int(row["prompt_tokens"]),
        completion_tokens=int(row["completion_tokens"]),
        parent_id=None if row["parent_id"] is None else int(row["parent_id"]),
        branched_at_request=(
            None if row["branched_at_seq"] is None else int(row["branched_at_request"])
        ),
    )


def _message(row: sqlite3.Row) -> Message:
    calls: list[dict[str, Any]] = json.loads(row["tool_calls"])
    return Message(
        role=row["role"],
        content=str(row["content"]),
        tool_calls=tuple(ToolCall(c["id"], c["language"], c["code"]) for c in calls),
        tool_call_id=str(row["tool_call_id"]),
        origin=row["origin"],
        images=tuple(json.loads(row["images"])),
    )


def _message_record(row: sqlite3.Row) -> MessageRecord:
    return MessageRecord(
        id=int(row["id"]),
        seq=int(row["seq"]),
        created=float(row["created"]),
        message=_message(row),
        grounding=_grounding(row["grounding"]),
        set_aside=bool(row["set_aside"]),
    )


def _grounding(raw: str | None) -> Grounding | None:
    """The stored grounding of a message; None if it has none (or it cannot be read)."""
    if not raw:
        return None
    try:
        data = json.loads(raw)
        return Grounding(
            tuple(str(n) for n in data["supported"]), tuple(str(n) for n in data["unsupported"])
        )
    except (ValueError, KeyError, TypeError):
        return None


def _output(row: sqlite3.Row) -> Output:
    return Output(
        stream=row["stream"],
        data=str(row["data"]),
        mime=str(row["mime"]),
        text=str(row["text"]),
        path=str(row["path"]),
        execution_id=int(row["execution_id"]),
    )


def _execution(row: sqlite3.Row, outputs: list[Output]) -> ExecutionRecord:
    return ExecutionRecord(
        id=int(row["id"]),
        seq=int(row["seq"]),
        block_id=str(row["block_id"]),
        language=str(row["language"]),
        code=str(row["code"]),
        approved_by=str(row["approved_by"]),
        sandbox=str(row["sandbox"]),
        status=row["status"],
        started=float(row["started"]),
        duration=None if row["duration"] is None else float(row["duration"]),
        exit_code=None if row["exit_code"] is None else int(row["exit_code"]),
        error_name=str(row["error_name"]),
        error_value=str(row["error_value"]),
        message=str(row["message"]),
        files=tuple(str(f) for f in json.loads(row["files"])),
        outputs=tuple(outputs),
        risk=str(row["risk"]),
        output_bytes=int(row["output_bytes"]),
        truncated=bool(row["truncated"]),
        limit_hit=str(row["limit_hit"]),
    )
