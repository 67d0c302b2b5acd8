"""A conversation's workspace on disk: safe paths, listing, streamed uploads.

Every path a client names is relative to the workspace. ``resolve_inside`` refuses absolute
paths, ``..`` parts, and anything that resolves (following symlinks) outside the workspace.
Uploads are written chunk by chunk to a temporary file next to the target and renamed into
place, so a file of any size never sits in memory and a half-sent one never appears.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path, PurePosixPath
from typing import Any

from ..errors import LociError

LIST_LIMIT = 1000
_SKIP_DIRS = {"__pycache__", "node_modules"}
INLINE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
}


class PathRefused(LociError):
    """A path that is not a plain relative path inside the workspace."""


def new_workspace(root: Path) -> Path:
    """A fresh, uniquely named folder under ``root`` for one conversation."""
    root.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="conv-", dir=root)).resolve()


def _relative_parts(raw: str) -> tuple[str, ...]:
    if not raw or "\x00" in raw or "\\" in raw:
        raise PathRefused(f"not a usable file name: {raw!r}")
    pure = PurePosixPath(raw)
    if pure.is_absolute():
        raise PathRefused("absolute paths are refused: name a file inside the workspace")
    parts = tuple(p for p in pure.parts if p != ".")
    if not parts or ".." in parts:
        raise PathRefused("paths with '..' are refused: name a file inside the workspace")
    return parts


def resolve_inside(workspace: Path, raw: str) -> Path:
    """The real path of ``raw`` inside ``workspace``; PathRefused if it would leave it."""
    root = workspace.resolve()
    candidate = root.joinpath(*_relative_parts(raw))
    real = candidate.resolve()
    if real != root and not real.is_relative_to(root):
        raise PathRefused("that path leads outside the workspace")
    return real


def list_files(workspace: Path, limit: int = LIST_LIMIT) -> list[dict[str, Any]]:
    """Files under the workspace (hidden folders skipped, symlinks not followed), newest first."""
    root = workspace.resolve()
    found: list[dict[str, Any]] = []
    if not root.is_dir():
        return found
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in _SKIP_DIRS)
        for name in sorted(filenames):
            path = Path(dirpath) / name
            try:
                st = path.lstat()
            except OSError:
                continue
            if not path.is_file() or path.is_symlink():
                continue
            rel = path.relative_to(root).as_posix()
            found.append({"path": rel, "size": st.st_size, "modified": st.st_mtime})
            if len(found) >= limit:
                break
        if len(found) >= limit:
            break
    found.sort(key=lambda f: (-f["modified"], f["path"]))
    return found


async def save_upload(workspace: Path, raw: str, chunks: AsyncIterator[bytes]) -> dict[str, Any]:
    """Stream ``chunks`` to ``raw`` inside the workspace; returns the file's entry."""
    target = resolve_inside(workspace, raw)
    if target.is_dir():
        raise PathRefused(f"{raw!r} is a folder")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".upload-", dir=target.parent)
    size = 0
    try:
        with os.fdopen(fd, "wb") as out:
            async for chunk in chunks:
                out.write(chunk)
                size += len(chunk)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    rel = target.relative_to(workspace.resolve()).as_posix()
    return {"path": rel, "size": size, "modified": target.stat().st_mtime}
