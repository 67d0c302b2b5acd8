"""A conversation's workspace on disk: safe paths, listing, streamed uploads and downloads.

Every path a client names is relative to the workspace: absolute paths, ``..`` parts, empty
parts and NUL are refused. Code running in a kernel can write into the workspace, so it can
swap a file or a folder for a symlink at any moment; a path checked first and opened later
(TOCTOU) could then lead anywhere the server can read or write. So files are never opened
by path: the workspace is opened once and every part below it is opened relative to its
parent's file descriptor with ``O_NOFOLLOW``. A symlink at any part is refused, and what is
served or written is exactly what was opened. Uploads stream chunk by chunk into a temporary
file in the (already opened) parent folder and are renamed into place relative to it, so a
file of any size never sits in memory, a half-sent one never appears, and a parent swapped
mid-upload cannot redirect the write. Linux/POSIX only (``dir_fd``, ``O_NOFOLLOW``).
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
import tempfile
from collections.abc import AsyncIterator
from email.utils import formatdate
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO
from urllib.parse import quote

from starlette.responses import Response, StreamingResponse

from ..errors import NotFoundError, PathRefused
from ..workspace_paths import (
    CLOEXEC,
    check_writable,
    open_parent,
    os_refusal,
    refusal,
    relative_parts,
)

LIST_LIMIT = 1000
CHUNK = 1 << 16
DOWNLOAD_CSP = "sandbox; default-src 'none'"
_SKIP_DIRS = {"__pycache__", "node_modules"}
INLINE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
}
# O_NONBLOCK: opening a FIFO planted in the workspace must not hang; only regular files pass
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | CLOEXEC
_TMP_FLAGS = os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW | CLOEXEC


def new_workspace(root: Path) -> Path:
    """A fresh, uniquely named folder under ``root`` for one conversation."""
    root.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="conv-", dir=root)).resolve()


def open_download(
    workspace: Path, rel: str, home: Path | None = None
) -> tuple[BinaryIO, os.stat_result, str]:
    """Open the regular file ``rel`` inside ``workspace`` for reading, following no symlink.

    Returns the open file, its ``fstat`` and its name. PathRefused for a symlink or a
    non-regular file at any part, or a ``refusal``; NotFoundError when there is no such file.
    """
    why = refusal(workspace, rel, home)
    if why:
        raise PathRefused(why)
    dfd, name = open_parent(workspace, rel, create=False)
    try:
        fd = os.open(name, _READ_FLAGS, dir_fd=dfd)
    except OSError as exc:
        raise os_refusal(rel, exc) from None
    finally:
        os.close(dfd)
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise NotFoundError("no such file in the workspace")
        if not stat.S_ISREG(st.st_mode):
            raise PathRefused(f"{rel!r} is not a regular file")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb"), st, name
    except BaseException:
        os.close(fd)
        raise


class _Chunks:
    """At most ``size`` bytes of ``f`` in chunks (never more than Content-Length promised).

    Closes the file at the end, or when dropped unread (a client gone before the body).
    """

    def __init__(self, f: BinaryIO, size: int) -> None:
        self._f, self._left = f, size

    def __iter__(self) -> _Chunks:
        return self

    def __next__(self) -> bytes:
        chunk = self._f.read(min(CHUNK, self._left)) if self._left > 0 else b""
        if not chunk:
            self.close()
            raise StopIteration
        self._left -= len(chunk)
        return chunk

    def close(self) -> None:
        self._f.close()

    def __del__(self) -> None:
        self.close()


def _disposition(kind: str, filename: str) -> str:
    quoted = quote(filename)
    if quoted != filename:
        return f"{kind}; filename*=utf-8''{quoted}"
    return f'{kind}; filename="{filename}"'


def download_response(
    workspace: Path, rel: str, *, inline: bool, home: Path | None = None
) -> Response:
    """Serve ``rel`` from the workspace: the bytes of the file that was opened and checked.

    Always an attachment in a sandboxing CSP, except images asked for with ``inline``.
    """
    f, st, name = open_download(workspace, rel, home)
    mime = INLINE_TYPES.get(PurePosixPath(name).suffix.lower())
    show = mime is not None and inline
    headers = {
        "Content-Length": str(st.st_size),
        "Content-Disposition": _disposition("inline" if show else "attachment", name),
        "Content-Security-Policy": DOWNLOAD_CSP,
        "Last-Modified": formatdate(st.st_mtime, usegmt=True),
    }
    media = mime if show and mime else "application/octet-stream"
    return StreamingResponse(_Chunks(f, st.st_size), headers=headers, media_type=media)


def list_files(
    workspace: Path, limit: int = LIST_LIMIT, home: Path | None = None
) -> list[dict[str, Any]]:
    """Files under the workspace (hidden folders skipped, symlinks not followed, none with a
    ``refusal``), newest first."""
    root = workspace.resolve()
    found: list[dict[str, Any]] = []
    if not root.is_dir():
        return found
    # fwalk descends through directory fds and never into a symlink, even one swapped in
    for dirpath, dirnames, filenames, dfd in os.fwalk(root, follow_symlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in _SKIP_DIRS)
        for name in sorted(filenames):
            try:
                st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
            except OSError:
                continue
            if not stat.S_ISREG(st.st_mode):
                continue
            rel = (Path(dirpath) / name).relative_to(root).as_posix()
            if refusal(root, rel, home):
                continue
            found.append({"path": rel, "size": st.st_size, "modified": st.st_mtime})
            if len(found) >= limit:
                break
        if len(found) >= limit:
            break
    found.sort(key=lambda f: (-f["modified"], f["path"]))
    return found


def _new_temp(dfd: int) -> tuple[int, str]:
    for _ in range(100):
        tmp = f".upload-{secrets.token_hex(8)}"
        try:
            return os.open(tmp, _TMP_FLAGS, 0o644, dir_fd=dfd), tmp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary upload name")


async def _write_and_replace(
    dfd: int, name: str, chunks: AsyncIterator[bytes]
) -> tuple[int, float]:
    """Stream into a temporary file in ``dfd``, rename it to ``name`` there; (size, mtime)."""
    fd, tmp = _new_temp(dfd)
    size = 0
    try:
        with os.fdopen(fd, "wb") as out:
            async for chunk in chunks:
                out.write(chunk)
                size += len(chunk)
            out.flush()
            mtime = os.fstat(out.fileno()).st_mtime
        try:
            os.replace(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
        except OSError as exc:
            if exc.errno in (errno.EISDIR, errno.ENOTEMPTY, errno.EEXIST):
                raise PathRefused(f"{name!r} is a folder") from None
            raise
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp, dir_fd=dfd)
        raise
    return size, mtime


async def save_upload(
    workspace: Path, raw: str, chunks: AsyncIterator[bytes], home: Path | None = None
) -> dict[str, Any]:
    """Stream ``chunks`` to ``raw`` inside the workspace; returns the file's entry.

    Missing folders are created; a symlink at any part, a folder at ``raw``, or a path with
    a ``refusal`` (loci's own state, a credential store) is refused.
    """
    parts = relative_parts(raw)
    check_writable(workspace, raw, home)
    dfd, name = open_parent(workspace, raw, create=True)
    try:
        try:
            existing = os.stat(name, dir_fd=dfd, follow_symlinks=False)
        except FileNotFoundError:
            existing = None
        if existing is not None and stat.S_ISDIR(existing.st_mode):
            raise PathRefused(f"{raw!r} is a folder")
        if existing is not None and stat.S_ISLNK(existing.st_mode):
            raise PathRefused(f"{raw!r} is a symlink: it is not replaced")
        size, mtime = await _write_and_replace(dfd, name, chunks)
    finally:
        os.close(dfd)
    return {"path": "/".join(parts), "size": size, "modified": mtime}
