"""The users of a multi-user ``loci serve``, kept in the history database.

    users = Users(store)
    token = users.add("ana", max_kernels=2)     # shown once; only its SHA-256 is stored
    user = users.by_token(token)                # User(id, name, max_kernels) or None
    users.assign(conv_id, user.id)              # ana owns that conversation now
    users.owner(conv_id)                        # -> user.id

Tokens are 256-bit random strings, so a plain SHA-256 is enough to make a stolen database
useless for logging in (a slow password hash protects guessable secrets; these are not).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import sqlite3
from dataclasses import dataclass

from ..errors import ConfigError, NotFoundError
from .store import Store

__all__ = ["User", "Users", "hash_token"]

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


@dataclass(frozen=True)
class User:
    id: int
    name: str
    max_kernels: int | None = None


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _user(row: sqlite3.Row) -> User:
    cap = row["max_kernels"]
    return User(int(row["id"]), str(row["name"]), None if cap is None else int(cap))


class Users:
    """Add, find and remove users; record who owns which conversation."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def add(self, name: str, *, max_kernels: int | None = None) -> str:
        """Create ``name`` and return their new token (the only time it is visible)."""
        if not _NAME.fullmatch(name):
            raise ConfigError(
                f"bad user name {name!r}: use letters, digits, '.', '_' or '-' (at most 64)"
            )
        if self.get(name) is not None:
            raise ConfigError(f"a user named {name!r} already exists")
        token = secrets.token_urlsafe(32)
        with self.store.write("add a user to") as db:
            db.execute(
                "INSERT INTO users (name, token_hash, max_kernels, created) VALUES (?, ?, ?, ?)",
                (name, hash_token(token), max_kernels, self.store.now()),
            )
        return token

    def new_token(self, name: str) -> str:
        """Replace ``name``'s token; the old one stops working at once."""
        token = secrets.token_urlsafe(32)
        with self.store.write("change a token in") as db:
            cur = db.execute(
                "UPDATE users SET token_hash = ? WHERE name = ?", (hash_token(token), name)
            )
            if cur.rowcount == 0:
                raise NotFoundError(f"no user named {name!r}")
        return token

    def set_limit(self, name: str, max_kernels: int | None) -> None:
        with self.store.write("change a user in") as db:
            cur = db.execute("UPDATE users SET max_kernels = ? WHERE name = ?", (max_kernels, name))
            if cur.rowcount == 0:
                raise NotFoundError(f"no user named {name!r}")

    def remove(self, name: str) -> None:
        """Delete ``name``; their conversations stay in the history, owned by nobody."""
        with self.store.write("remove a user from") as db:
            row = db.execute("SELECT id FROM users WHERE name = ?", (name,)).fetchone()
            if row is None:
                raise NotFoundError(f"no user named {name!r}")
            db.execute("UPDATE conversations SET user_id = NULL WHERE user_id = ?", (row[0],))
            db.execute("DELETE FROM users WHERE id = ?", (row[0],))

    def get(self, name: str) -> User | None:
        with self.store.read("read users from") as db:
            row = db.execute("SELECT * FROM users WHERE name = ?", (name,)).fetchone()
        return None if row is None else _user(row)

    def all(self) -> list[User]:
        with self.store.read("read users from") as db:
            rows = db.execute("SELECT * FROM users ORDER BY name").fetchall()
        return [_user(r) for r in rows]

    def by_token(self, token: str) -> User | None:
        """The user this token belongs to, if any (looked up by hash: no timing leak)."""
        if not token:
            return None
        with self.store.read("read users from") as db:
            row = db.execute(
                "SELECT * FROM users WHERE token_hash = ?", (hash_token(token),)
            ).fetchone()
        return None if row is None else _user(row)

    def assign(self, conv_id: int, user_id: int) -> None:
        with self.store.write("set the owner in") as db:
            cur = db.execute(
                "UPDATE conversations SET user_id = ? WHERE id = ?", (user_id, conv_id)
            )
            if cur.rowcount == 0:
                raise NotFoundError(f"no conversation with id {conv_id}")

    def owner(self, conv_id: int) -> int | None:
        with self.store.read("read") as db:
            row = db.execute(
                "SELECT user_id FROM conversations WHERE id = ?", (conv_id,)
            ).fetchone()
        if row is None:
            raise NotFoundError(f"no conversation with id {conv_id}")
        return None if row[0] is None else int(row[0])
