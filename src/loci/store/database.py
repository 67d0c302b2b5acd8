"""One SQLite connection, shared between threads, with loci's transactions and errors.

WAL mode, foreign keys on, the schema brought up to date by ``migrations`` on open. Every
``write`` block is its own transaction and commits before it ends, so a process killed at any
point loses nothing that was already shown. The connection is shared between threads (the web
server calls in from several): one lock serialises every statement, so a reader never sees
another thread's half-written transaction. Other processes may open the same file; SQLite's
busy timeout makes them wait for each other's writes.

``sqlite3`` and file-system errors never leave this module: ``translate`` turns them into
``StoreError`` naming the file, at the one boundary.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import TypeVar

from loci.errors import StoreError
from loci.store import migrations

_CORRUPT_CODES = {"SQLITE_NOTADB", "SQLITE_CORRUPT"}
_CORRUPT_WORDS = ("not a database", "malformed")
BUSY_TIMEOUT_S = 10.0  # how long a write waits for another process's
Self = TypeVar("Self", bound="Database")


class Database:
    """The SQLite file at ``path`` (created, with its parent folders, if missing).

    ``clock`` gives the current time as a unix timestamp; tests pass a fake one.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        clock: Callable[[], float] = time.time,
        timeout: float = BUSY_TIMEOUT_S,
    ) -> None:
        self.path = Path(path)
        self.now = clock
        self._lock = threading.RLock()
        self._closed = False
        with self.translate("open"):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                str(self.path), timeout=timeout, isolation_level=None, check_same_thread=False
            )
        try:
            with self.translate("open"):
                self._db.row_factory = sqlite3.Row
                self._db.execute("PRAGMA foreign_keys = ON")
                self._db.execute("PRAGMA journal_mode = WAL")
                # In WAL mode NORMAL survives a killed process; only power loss can drop the
                # last commits.
                self._db.execute("PRAGMA synchronous = NORMAL")
                migrations.migrate(self._db)
        except BaseException:
            self._db.close()
            raise

    # -- lifetime ---------------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._db.close()

    def __enter__(self: Self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r})"

    # -- transactions and the error boundary ------------------------------------------

    @contextmanager
    def translate(self, action: str) -> Iterator[None]:
        """Turn ``sqlite3`` and file-system errors into ``StoreError`` naming the file."""
        try:
            yield
        except sqlite3.Error as exc:
            raise StoreError(self._describe(action, exc)) from exc
        except OSError as exc:
            raise StoreError(f"cannot {action} the history database {self.path}: {exc}") from exc

    def _describe(self, action: str, exc: sqlite3.Error) -> str:
        code = getattr(exc, "sqlite_errorname", "")
        if code in _CORRUPT_CODES or any(w in str(exc) for w in _CORRUPT_WORDS):
            return (
                f"{self.path} is not a usable history database (not SQLite, or corrupt): "
                f"{exc}. Move it aside and loci will start a new one."
            )
        if self._closed:
            return f"the history database {self.path} is closed"
        return f"cannot {action} the history database {self.path}: {exc}"

    @contextmanager
    def read(self, action: str) -> Iterator[sqlite3.Connection]:
        with self._lock, self.translate(action):
            yield self._db

    @contextmanager
    def write(self, action: str) -> Iterator[sqlite3.Connection]:
        """One transaction, committed on leaving the block, rolled back on any error."""
        with self._lock, self.translate(action):
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
