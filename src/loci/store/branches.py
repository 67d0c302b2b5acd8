"""Branches: a conversation continued from before one of the person's earlier requests.

A branch is a new conversation, not a tree inside one: it gets copies of the parent's rows
(messages, executions and their outputs) with a ``seq`` below the edited request, under the
same numbers, and records ``parent_id`` and ``branched_at_seq`` (migration m009). The parent is
left exactly as it was. So everything that reads one conversation (resume, undo, exports, the
browser) needs no notion of branches; only ``loci history`` and ``loci show`` mention them.

Requests are numbered as the person sees them: 1 for their first message in the conversation,
counting only what they wrote (``origin = 'person'``), not loci's notes.
"""

from __future__ import annotations

import sqlite3

from loci.errors import NotFoundError

_CONVERSATION_COPIED = (
    "title, model, workdir, user_id, instructions, instructions_source"  # what a branch keeps
)
_MESSAGE_COPIED = (
    "seq, role, origin, content, tool_calls, tool_call_id, created, grounding, images, set_aside"
)
_EXECUTION_COPIED = (
    "seq, block_id, language, code, approved_by, sandbox, status, started, duration, exit_code,"
    " error_name, error_value, message, files, risk, output_bytes, truncated, limit_hit"
)
_OUTPUT_COPIED = "idx, stream, mime, data, text, path"


def request_seq(db: sqlite3.Connection, conv_id: int, request: int) -> int:
    """The ``seq`` of the person's request number ``request`` (from 1) in ``conv_id``."""
    if db.execute("SELECT 1 FROM conversations WHERE id = ?", (conv_id,)).fetchone() is None:
        raise NotFoundError(f"no conversation with id {conv_id}")
    row = None
    if request >= 1:
        row = db.execute(
            "SELECT seq FROM messages WHERE conversation_id = ? AND role = 'user'"
            " AND origin = 'person' ORDER BY seq LIMIT 1 OFFSET ?",
            (conv_id, request - 1),
        ).fetchone()
    if row is None:
        raise NotFoundError(f"conversation {conv_id} has no request {request}")
    return int(row[0])


def copy_before(db: sqlite3.Connection, conv_id: int, seq: int, now: float) -> int:
    """A new conversation holding ``conv_id``'s items below ``seq``; returns its id."""
    cur = db.execute(
        f"INSERT INTO conversations ({_CONVERSATION_COPIED}, created, updated, last_seq,"
        " parent_id, branched_at_seq)"
        f" SELECT {_CONVERSATION_COPIED}, ?, ?, ?, id, ? FROM conversations WHERE id = ?",
        (now, now, seq - 1, seq, conv_id),
    )
    assert cur.lastrowid is not None
    branch = int(cur.lastrowid)
    db.execute(
        f"INSERT INTO messages (conversation_id, {_MESSAGE_COPIED})"
        f" SELECT ?, {_MESSAGE_COPIED} FROM messages"
        " WHERE conversation_id = ? AND seq < ? ORDER BY seq",
        (branch, conv_id, seq),
    )
    executions = db.execute(
        "SELECT id FROM executions WHERE conversation_id = ? AND seq < ? ORDER BY seq",
        (conv_id, seq),
    ).fetchall()
    for (old,) in executions:
        copied = db.execute(
            f"INSERT INTO executions (conversation_id, {_EXECUTION_COPIED})"
            f" SELECT ?, {_EXECUTION_COPIED} FROM executions WHERE id = ?",
            (branch, old),
        )
        db.execute(
            f"INSERT INTO outputs (execution_id, {_OUTPUT_COPIED})"
            f" SELECT ?, {_OUTPUT_COPIED} FROM outputs WHERE execution_id = ? ORDER BY idx",
            (copied.lastrowid, old),
        )
    return branch
