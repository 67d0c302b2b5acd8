"""The history database's schema, as an ordered list of migrations.

Each migration is a function decorated with ``@migration``; ``migrate(db)`` runs, in order, the
ones whose name is not yet recorded in the ``_migrations`` table, and records each as it
succeeds (inside one transaction with its changes). Running it again is a no-op. Never edit or
reorder a migration that has shipped: add a new one at the end.

What the tables are for:

``conversations``
    One row per conversation: the model and working directory it was started with, a title,
    ``created`` / ``updated`` (REAL unix timestamps; ``updated`` is the last activity, which is
    what ``loci history`` sorts by), and the token usage summed over all its turns.
    ``last_seq`` is the per-conversation counter that orders messages and executions together.

``messages``
    What was said, exactly as sent to / received from the model: ``role``, ``content``,
    ``tool_calls`` (a JSON list of ``{id, language, code}``) and ``tool_call_id``. ``seq`` places
    the message among the conversation's messages *and* executions. ``images`` (m010) is a
    JSON list of the saved image files it shows, which a model that can see is sent.
    ``set_aside`` (m011) marks the messages of an attempt the effort setting's vote did not
    keep (``loci.vote``): shown in the history, never sent to a model again.

``executions``
    Every code block that was run (or refused): the code that actually ran, its language, who
    approved it, how it was sandboxed, and how it ended (``status`` stays ``'running'`` until it
    finishes, so a process killed mid-run leaves a visible trace). ``files`` is a JSON list of
    paths the block produced. Shares ``seq`` numbering with ``messages``.

    The audit columns (m003): ``risk`` is why the approval policy thought the code risky ("" if
    it did not); ``output_bytes`` how much output the code produced, ``truncated`` whether the
    stored copy was cut at the output limit, ``limit_hit`` which limit stopped it ("output",
    "memory", "processes", "time" or ""). ``sandbox`` names the confinement really in force
    ("off", "workspace", "readonly", with ",no-network").

``outputs``
    Everything an execution produced, in full and in order (``idx``): stdout/stderr text,
    results, rich displays (base64 for binary MIME types) and tracebacks. What the model sees
    is a trimmed view built from these rows; this table is only ever cut at the output limit,
    and then ``executions.truncated`` says so and a last row tells how much was dropped.

``users`` (m004)
    The people ``loci serve --users`` lets in: a unique ``name``, the SHA-256 hex of their
    access token (the token itself is shown once and never stored), an optional cap on their
    running Python kernels. ``conversations.user_id`` names a conversation's owner (NULL for
    conversations made outside multi-user mode).

``messages.grounding`` (m005)
    For a turn's final answer: a JSON object ``{"supported": [...], "unsupported": [...]}``
    of the numbers in it that some output of the turn printed, and those none did (the
    ``grounding`` event), so a reload, ``loci show`` and exports still flag an unbacked
    figure. NULL for every other message, and for answers with no numbers.

``conversations.parent_id``, ``branched_at_seq`` (m009)
    A branch: the person went back and edited an earlier request. It is a conversation of its
    own that holds copies of the parent's messages and executions (with their outputs) from
    before that request, under the same ``seq`` numbers, and then its own. ``parent_id`` is
    the conversation it came from (NULL: not a branch, or the parent was deleted) and
    ``branched_at_seq`` the ``seq`` of the parent's request it replaced, so everything of the
    branch below that number is shared history and the rest is its own. The parent is never
    changed by branching, so undo, resume and exports work on a branch as on any conversation.

``compactions`` (m010)
    What a model was sent instead of a conversation's older turns, when they no longer fit its
    window (``loci.compaction``): the seq range it stands for (``first_seq`` .. ``last_seq``,
    messages and executions), how many of the person's requests that holds (``turns``), how
    it was made (``method``: "digest", built from these tables), why (``reason``: "window",
    or "asked" by ``%compact``), the ``text`` itself and when. The newest one is what later
    calls reuse; the messages it stands for are still stored, whole. Undo removes those that
    reach into what it removes.

Deleting a conversation or an execution cascades to what hangs off it (foreign keys are on).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable

Migration = Callable[[sqlite3.Connection], None]

MIGRATIONS: list[Migration] = []


def migration(fn: Migration) -> Migration:
    """Register ``fn`` as the next migration; its ``__name__`` is recorded once applied."""
    MIGRATIONS.append(fn)
    return fn


def applied(db: sqlite3.Connection) -> list[str]:
    """Names of the migrations already applied, in the order they were applied."""
    _ensure_table(db)
    rows = db.execute("SELECT name FROM _migrations ORDER BY rowid").fetchall()
    return [str(row[0]) for row in rows]


def migrate(db: sqlite3.Connection) -> list[str]:
    """Apply every pending migration, in order; return the names applied now.

    ``db`` must be in autocommit mode (``isolation_level=None``): each migration runs in its own
    ``BEGIN IMMEDIATE`` transaction together with the row that records it.
    """
    done = set(applied(db))
    ran: list[str] = []
    for fn in MIGRATIONS:
        if fn.__name__ in done:
            continue
        db.execute("BEGIN IMMEDIATE")
        try:
            # Another process may have applied it while we waited for the write lock.
            row = db.execute("SELECT 1 FROM _migrations WHERE name = ?", (fn.__name__,)).fetchone()
            if row is None:
                fn(db)
                db.execute(
                    "INSERT INTO _migrations (name, applied) VALUES (?, ?)",
                    (fn.__name__, time.time()),
                )
                ran.append(fn.__name__)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
    return ran


def _ensure_table(db: sqlite3.Connection) -> None:
    db.execute(
        "CREATE TABLE IF NOT EXISTS _migrations ( name TEXT PRIMARY KEY, applied REAL NOT NULL)"
    )


@migration
def m001_initial(db: sqlite3.Connection) -> None:
    db.execute(
        """
        CREATE TABLE conversations (
            id INTEGER PRIMARY KEY,
            title TEXT NOT NULL DEFAULT '',
            model TEXT NOT NULL,
            workdir TEXT NOT NULL,
            created REAL NOT NULL,
            updated REAL NOT NULL,
            prompt_tokens INTEGER NOT NULL DEFAULT 0,
            completion_tokens INTEGER NOT NULL DEFAULT 0,
            last_seq INTEGER NOT NULL DEFAULT 0
        )
        """
    )
    db.execute(
        """
        CREATE TABLE messages (
            id INTEGER PRIMARY KEY,
            conversation_id INTEGER NOT NULL
                REFERENCES conversations(id) ON DELETE CASCADE,
            seq INTEGER NOT NULL,
            role TEXT NOT NULL,
            content TEXT NOT NULL,
            tool_calls TEXT NOT NULL DEFAULT '[]',
            tool_call_id TEXT NOT NULL DEFAULT '',
            created REAL NOT NULL,
            UNIQUE (conversation_id, seq)
        )
        """
    )
    db.execute(
        """
        CREATE TABLE executions (
            id INTEGER PRIMARY KEY,
            conversation_id INTEGER NOT NULL
                REFERENCES conversations(id) ON DELETE CASCADE,
            seq INTEGER NOT NULL,
            block_id TEXT NOT NULL,
            language TEXT NOT NULL,
            code TEXT NOT NULL,
            approved_by TEXT NOT NULL,
            sandbox TEXT NOT NULL DEFAULT 'off',
            status TEXT NOT NULL DEFAULT 'running',
            started REAL NOT NULL,
            duration REAL,
            exit_code INTEGER,
            error_name TEXT NOT NULL DEFAULT '',
            error_value TEXT NOT NULL DEFAULT '',
            message TEXT NOT NULL DEFAULT '',
            files TEXT NOT NULL DEFAULT '[]',
            UNIQUE (conversation_id, seq)
        )
        """
    )
    db.execute(
        """
        CREATE TABLE outputs (
            id INTEGER PRIMARY KEY,
            execution_id INTEGER NOT NULL
                REFERENCES executions(id) ON DELETE CASCADE,
            idx INTEGER NOT NULL,
            stream TEXT NOT NULL,
            mime TEXT NOT NULL,
            data TEXT NOT NULL,
            text TEXT NOT NULL DEFAULT '',
            path TEXT NOT NULL DEFAULT '',
            UNIQUE (execution_id, idx)
        )
        """
    )


@migration
def m002_activity_index(db: sqlite3.Connection) -> None:
    # ``loci history`` lists conversations by last activity.
    db.execute("CREATE INDEX conversations_updated ON conversations (updated DESC, id DESC)")


@migration
def m003_audit(db: sqlite3.Connection) -> None:
    # The audit log: risk reason, output accounting and which limit (if any) stopped a block.
    db.execute("ALTER TABLE executions ADD COLUMN risk TEXT NOT NULL DEFAULT ''")
    db.execute("ALTER TABLE executions ADD COLUMN output_bytes INTEGER NOT NULL DEFAULT 0")
    db.execute("ALTER TABLE executions ADD COLUMN truncated INTEGER NOT NULL DEFAULT 0")
    db.execute("ALTER TABLE executions ADD COLUMN limit_hit TEXT NOT NULL DEFAULT ''")


@migration
def m004_users(db: sqlite3.Connection) -> None:
    # ``loci serve --users``: who may use the server (tokens stored as SHA-256 hashes only) and
    # who owns each conversation (NULL: made outside multi-user mode, e.g. in the terminal).
    db.execute(
        """
        CREATE TABLE users (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            token_hash TEXT NOT NULL UNIQUE,
            max_kernels INTEGER,
            created REAL NOT NULL
        )
        """
    )
    db.execute("ALTER TABLE conversations ADD COLUMN user_id INTEGER REFERENCES users(id)")
    db.execute("CREATE INDEX conversations_user ON conversations (user_id, updated DESC)")


@migration
def m005_grounding(db: sqlite3.Connection) -> None:
    # A final answer's numbers checked against the turn's outputs (JSON; NULL: not checked).
    db.execute("ALTER TABLE messages ADD COLUMN grounding TEXT")


# loci's notes as the versions before m006 wrote them: the one place they are recognised by text.
_NOTES_BEFORE_ORIGIN = (
    "(This conversation was resumed: the code session was restarted, so variables, imports "
    "and open files from before are gone. Re-run what you need.)",
    "Step limit reached. Answer now from the outputs above, without code.",
    "No code has run yet, so that answer is not backed by any output. "
    "Write a code block that computes it.",
    "The last code failed, so that answer is not backed by any output. "
    "Fix the error and run the code again.",
    "The code printed nothing, so that answer is not backed by any output. print() the result.",
)


@migration
def m006_message_origin(db: sqlite3.Connection) -> None:
    # Who wrote each message (person, model or loci), so undo and exports need not recognise
    # loci's notes by their wording. Rows from before are classified once, here.
    db.execute("ALTER TABLE messages ADD COLUMN origin TEXT NOT NULL DEFAULT 'person'")
    db.execute("UPDATE messages SET origin = 'model' WHERE role = 'assistant'")
    db.execute("UPDATE messages SET origin = 'loci' WHERE role IN ('system', 'tool')")
    marks = ", ".join("?" * len(_NOTES_BEFORE_ORIGIN))
    db.execute(
        f"UPDATE messages SET origin = 'loci' WHERE role = 'user' AND content IN ({marks})",
        _NOTES_BEFORE_ORIGIN,
    )


@migration
def m007_project_instructions(db: sqlite3.Connection) -> None:
    # The AGENTS.md text the model was given with this conversation, and where it came from.
    db.execute("ALTER TABLE conversations ADD COLUMN instructions TEXT NOT NULL DEFAULT ''")
    db.execute("ALTER TABLE conversations ADD COLUMN instructions_source TEXT NOT NULL DEFAULT ''")


@migration
def m008_message_images(db: sqlite3.Connection) -> None:
    # The saved image files a message shows (a JSON list of paths: a run's plots, a request's
    # attached pictures), sent again to a model that can see when a conversation resumes.
    db.execute("ALTER TABLE messages ADD COLUMN images TEXT NOT NULL DEFAULT '[]'")


@migration
def m009_branches(db: sqlite3.Connection) -> None:
    # A branch is a conversation copied from another up to an edited request (see above).
    db.execute(
        "ALTER TABLE conversations ADD COLUMN parent_id INTEGER"
        " REFERENCES conversations(id) ON DELETE SET NULL"
    )
    db.execute("ALTER TABLE conversations ADD COLUMN branched_at_seq INTEGER")


@migration
def m010_compactions(db: sqlite3.Connection) -> None:
    # What a model was sent in place of a conversation's older turns (loci.compaction): the
    # stored messages and executions with seq first_seq..last_seq, as ``text``. The history
    # itself is never changed; this records what the model saw instead of it.
    db.execute(
        """
        CREATE TABLE compactions (
            id INTEGER PRIMARY KEY,
            conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            first_seq INTEGER NOT NULL,
            last_seq INTEGER NOT NULL,
            turns INTEGER NOT NULL,
            method TEXT NOT NULL,
            reason TEXT NOT NULL,
            text TEXT NOT NULL,
            created REAL NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX compactions_conversation ON compactions (conversation_id, id)")


@migration
def m011_set_aside(db: sqlite3.Connection) -> None:
    # An attempt at a request that the vote of ``effort`` did not keep (loci.vote): its
    # messages stay in the history, marked, and are not sent to the model again.
    db.execute("ALTER TABLE messages ADD COLUMN set_aside INTEGER NOT NULL DEFAULT 0")
