"""The local copy of a remote kernel's folder, so remote work looks like local work.

A kernel on a gateway (``kernels.gateway.GatewayKernel``) runs code in a folder on another
machine. Around each block ``run_block`` calls:

    mirror = mirror_for(kernel)        # None for a local kernel
    mirror.push_local()                # files added here (uploads) go to the remote folder
    before = mirror.remote_files()
    ... the block runs ...
    fetched, kept = mirror.pull_changed(before)

``pull_changed`` copies every file the block created or changed back into the local workspace
(the same relative path), where the web UI lists, previews and downloads it and ``loci show``
points to it. A file over ``max_fetch`` bytes stays on the gateway and is named in ``kept``
with its size, so the user is told where it is instead of silently missing it.
"""

from __future__ import annotations

import os
import weakref
from pathlib import Path
from typing import Protocol, runtime_checkable

from .errors import LociError
from .sizes import human_size

__all__ = ["MAX_FETCH", "MAX_PUSH", "Mirror", "RemoteFiles", "mirror_for"]

MAX_FETCH = 50 * 1024 * 1024  # bytes copied back per file
MAX_PUSH = 200 * 1024 * 1024  # bytes sent per local file
_SKIP_DIRS = ("loci_outputs",)  # images loci itself saved from the block's displays


@runtime_checkable
class RemoteFiles(Protocol):
    """What a remote kernel offers for its folder (see ``GatewayKernel``)."""

    remote_cwd: str | None

    def list_files(self) -> dict[str, tuple[float, int]]: ...

    def fetch(self, relpath: str, max_bytes: int) -> bytes | None: ...

    def push(self, relpath: str, data: bytes) -> None: ...


_MIRRORS: weakref.WeakKeyDictionary[RemoteFiles, Mirror] = weakref.WeakKeyDictionary()


def mirror_for(kernel: object, workdir: Path) -> Mirror | None:
    """The mirror of ``kernel``'s remote folder in ``workdir``; None for a local kernel."""
    if not isinstance(kernel, RemoteFiles):
        return None
    mirror = _MIRRORS.get(kernel)
    if mirror is None:
        mirror = _MIRRORS[kernel] = Mirror(kernel, workdir)
    return mirror


def _local_files(root: Path) -> dict[str, float]:
    found: dict[str, float] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".") and d not in _SKIP_DIRS]
        for name in filenames:
            path = Path(dirpath, name)
            try:
                found[path.relative_to(root).as_posix()] = path.stat().st_mtime
            except OSError:
                continue
    return found


class Mirror:
    """Keeps ``workdir`` and the kernel's remote folder in step, one block at a time."""

    def __init__(self, kernel: RemoteFiles, workdir: Path) -> None:
        self.kernel = kernel
        self.workdir = workdir
        self._synced: dict[str, float] = {}  # path -> mtime of what the remote folder has
        self._failed: set[str] = set()  # could not be sent: tried again, after the others

    def push_local(self) -> list[str]:
        """Send local files that are new or changed since the last sync; returns their paths.
        The first time, that is everything already in the workspace (the data files a
        conversation starts with). A failure ends the round (the gateway may be down); what
        was not sent is tried again next time, a file that failed last so it blocks no other."""
        if not self.workdir.is_dir() or not self.kernel.remote_cwd:
            return []  # a kernel with no folder (another language's): nothing to send to
        current = _local_files(self.workdir)
        sent: list[str] = []
        for rel, mtime in sorted(current.items(), key=lambda kv: (kv[0] in self._failed, kv[0])):
            if self._synced.get(rel) == mtime:
                continue
            path = self.workdir / rel
            try:
                if path.stat().st_size > MAX_PUSH:
                    continue
                data = path.read_bytes()
            except OSError:
                continue
            try:
                self.kernel.push(rel, data)
            except LociError:  # not answering, or refused this file: the block goes on
                self._failed.add(rel)
                break
            self._failed.discard(rel)
            sent.append(rel)
        done = set(sent)
        self._synced = {
            rel: mtime
            for rel, mtime in current.items()
            if rel in done or self._synced.get(rel) == mtime
        }
        return sent

    def remote_files(self) -> dict[str, tuple[float, int]]:
        return self.kernel.list_files()

    def pull_changed(
        self, before: dict[str, tuple[float, int]], max_fetch: int = MAX_FETCH
    ) -> tuple[list[str], list[str]]:
        """Copy back what the block created or changed: (local paths fetched, remote files
        left on the gateway described as ``"path (size)"``)."""
        after = self.kernel.list_files()
        fetched: list[str] = []
        kept: list[str] = []
        root = self.workdir.resolve()
        for rel, (mtime, size) in sorted(after.items()):
            if before.get(rel) == (mtime, size) or rel.split("/")[0] in _SKIP_DIRS:
                continue
            target = (root / rel).resolve()
            if not target.is_relative_to(root):
                continue
            data = self.kernel.fetch(rel, max_fetch) if size <= max_fetch else None
            if data is None:
                kept.append(f"{rel} ({human_size(size)})")
                continue
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
                self._synced[rel] = target.stat().st_mtime
            except OSError:
                kept.append(f"{rel} ({human_size(size)})")
                continue
            fetched.append(str(target))
        return fetched, kept
