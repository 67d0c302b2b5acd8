"""Paths inside a workspace, reached safely: the rules the web UI's file server, ``loci mcp``'s
file tools and ACP's attached images share.

A path is relative to the workspace, with no ``..``, absolute part, NUL or backslash; every
folder on the way is opened relative to its parent with O_NOFOLLOW, so a symlink the user's
code swaps in at any moment leads nowhere; and nothing in a credential store or of loci's own
state is listed, served or written (``refusal``). No web framework: the base install has it.
"""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path, PurePosixPath

from .errors import NotFoundError, PathRefused
from .protected import in_credential_store, within

CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | CLOEXEC
_NEW_FLAGS = os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW | CLOEXEC
_REFUSED_ERRNOS = {errno.ELOOP, errno.ENOTDIR, errno.ENAMETOOLONG}


def relative_parts(raw: str) -> tuple[str, ...]:
    if not raw or "\x00" in raw or "\\" in raw:
        raise PathRefused(f"not a usable file name: {raw!r}")
    pure = PurePosixPath(raw)
    if pure.is_absolute():
        raise PathRefused("absolute paths are refused: name a file inside the workspace")
    parts = tuple(p for p in pure.parts if p != ".")
    if not parts or ".." in parts:
        raise PathRefused("paths with '..' are refused: name a file inside the workspace")
    return parts


def os_refusal(raw: str, exc: OSError) -> Exception:
    """The API error for an ``os.open`` that failed on ``raw`` (other errors unchanged)."""
    if isinstance(exc, FileNotFoundError):
        return NotFoundError("no such file in the workspace")
    if exc.errno in _REFUSED_ERRNOS:
        return PathRefused(f"{raw!r}: a symlink or a file is in the way inside the workspace")
    return exc


def open_parent(workspace: Path, raw: str, *, create: bool) -> tuple[int, str]:
    """An fd of the folder holding ``raw`` (reached without following symlinks), and the name.

    The workspace itself is the server's own path and is opened as such; below it, every
    part is opened relative to its parent with O_NOFOLLOW. With ``create``, missing folders
    are made one part at a time. The caller closes the fd.
    """
    parts = relative_parts(raw)
    if create:
        workspace.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(workspace, os.O_RDONLY | os.O_DIRECTORY | CLOEXEC)
    except OSError as exc:
        raise os_refusal(raw, exc) from None
    try:
        for part in parts[:-1]:
            try:
                if create:
                    with contextlib.suppress(FileExistsError):
                        os.mkdir(part, dir_fd=fd)
                child = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                raise os_refusal(raw, exc) from None
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd, parts[-1]


def refusal(workspace: Path, rel: str, home: Path | None = None) -> str:
    """Why ``rel`` is neither listed, served nor written ("" when it may be): it is in a
    credential store (``proj/.aws/...``, ``.netrc``), or it is loci's own state (``home``,
    ``LOCI_HOME``, when it lies in the workspace: the history of every conversation)."""
    if in_credential_store(relative_parts(rel)):
        return f"{rel!r} is in a credential store: loci does not serve it"
    if home is None:
        return ""
    space, state = workspace.resolve(), home.resolve()  # a relative or linked LOCI_HOME too
    if within(state, space) and within(space / rel, state):
        return f"{rel!r} is loci's own state: loci does not serve it"
    return ""


def check_writable(workspace: Path, rel: str, home: Path | None = None) -> None:
    """PathRefused when ``rel`` has a ``refusal``: loci writes none of those."""
    why = refusal(workspace, rel, home)
    if why:
        raise PathRefused(why.replace("does not serve", "does not write"))


def write_new(workspace: Path, rel: str, data: bytes, home: Path | None = None) -> bool:
    """Write ``data`` to a new file ``rel`` inside the workspace (folders made as needed,
    no symlink followed); False when a file of that name is already there. PathRefused,
    NotFoundError or OSError when it cannot be written."""
    check_writable(workspace, rel, home)
    dfd, name = open_parent(workspace, rel, create=True)
    try:
        try:
            fd = os.open(name, _NEW_FLAGS, 0o644, dir_fd=dfd)
        except FileExistsError:
            return False
        except OSError as exc:
            raise os_refusal(rel, exc) from None
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        return True
    finally:
        os.close(dfd)
