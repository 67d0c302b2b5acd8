"""The protective part of the bubblewrap command line, and files named by the user.

``protect_args`` runs after the writable folders are bound: it binds the startup files that
lie inside a writable folder read-only again, replaces every credential store with an empty
mount (an empty tmpfs for a folder, an empty read-only file for a file), hides the machine's runtime
socket folders, and finally binds back read-only what the user exposed on purpose. Every
destination is resolved first: a mount on a symlink would land outside the new root.

``TempRoot`` backs a kernel pool's private ``/tmp`` and ``/var/tmp`` with host folders that
only loci can reach (instead of tmpfs), so that a file the user names under the host's
``/tmp`` can be made readable to code that is already running: loci links it into a
read-only folder mounted at ``/tmp/.loci-files`` and puts a symlink at the file's own path.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..protected import RUNTIME, credential_paths, is_exposed, protected_startup
from ..protected import within as _inside

__all__ = ["FILES_MOUNT", "TempRoot", "View", "protect_args"]

FILES_MOUNT = ".loci-files"  # under the sandbox's /tmp: the read-only folder of named files
_COPY_LIMIT = 512 * 1024 * 1024  # a named file that cannot be hard-linked is copied up to this


@dataclass(frozen=True)
class View:
    """What a sandboxed process sees of the host, enough to tell whether a path is there."""

    temps: tuple[Path, ...]  # private temp folders (host paths hidden by them)
    hidden: tuple[Path, ...]  # folders replaced by an empty tmpfs
    bound: tuple[Path, ...]  # folders bound back in (workspace, venv, private, Python)

    def visible(self, path: Path) -> bool:
        """Whether ``path`` (resolved) on the host is the same file inside the sandbox: the
        innermost folder around it that loci mounts decides (a folder bound back inside a
        hidden one is deeper than it)."""
        roots = [(r, True) for r in self.bound] + [(r, False) for r in (*self.temps, *self.hidden)]
        around = [(len(r.parts), shown) for r, shown in roots if _inside(path, r)]
        return max(around)[1] if around else True


def protect_args(
    *,
    homes: Sequence[Path],
    writable: Sequence[Path],
    exposed: Sequence[Path],
    view: View,
) -> list[str]:
    """Startup files read-only, credential stores and runtime sockets hidden, exposures."""
    args: list[str] = []
    done: set[Path] = set()
    for path in protected_startup(homes[0], writable):
        real = _real(path)
        if real is None or real in done or not any(_inside(real, w) for w in writable):
            continue  # outside every writable folder it is read-only already
        done.add(real)
        args += ["--ro-bind", str(real), str(real)]
    for path in (*credential_paths(homes), *map(Path, RUNTIME)):
        if is_exposed(path, exposed):
            continue
        real = _real(path)
        if real is None or real in done or not view.visible(real):
            continue
        done.add(real)
        args += ["--tmpfs", str(real)] if real.is_dir() else ["--ro-bind", empty_file(), str(real)]
    for path in exposed:  # shown on purpose, inside a hidden folder: read-only
        real = _real(path)
        if real is not None and any(_inside(real, d) for d in done):
            args += ["--ro-bind", str(real), str(real)]
    emptied = [args[i + 1] for i, a in enumerate(args) if a == "--tmpfs"]
    return args + [a for folder in emptied for a in ("--remount-ro", folder)]


@functools.lru_cache(maxsize=1)
def empty_file() -> str:
    """An empty, read-only file of this process, mounted over credential files. (``/dev/null``
    would not do: device nodes cannot be opened on a user namespace's nodev mounts.)"""
    fd, name = tempfile.mkstemp(prefix="loci-empty-")
    os.close(fd)
    os.chmod(name, 0o444)
    atexit.register(_remove, name)
    return name


def _remove(name: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(name)


def _real(path: Path) -> Path | None:
    """``path`` with every symlink resolved, or None when nothing is there."""
    try:
        if not os.path.lexists(path):
            return None
        real = path.resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    return real


class TempRoot:
    """Host folders behind one pool's private temp folders, and the named files in them."""

    def __init__(self, temps: Iterable[str]) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="loci-sandbox-"))
        self.temps = [Path(t) for t in temps]
        self.backing = {t: self.root / f"t{i}" for i, t in enumerate(self.temps)}
        for folder in self.backing.values():
            folder.mkdir()
        self.files = self.root / "files"
        self.files.mkdir()
        self._count = 0

    def args(self) -> list[str]:
        """Bind each backing folder over its temp folder, and the named files read-only."""
        args: list[str] = []
        for temp, folder in self.backing.items():
            args += ["--bind", str(folder), str(temp)]
        if self.temps:
            args += ["--ro-bind", str(self.files), str(self.temps[0] / FILES_MOUNT)]
        return args

    def under_temp(self, path: Path) -> Path | None:
        """The private temp folder that hides ``path``, if any."""
        return next((t for t in self.temps if _inside(path, t)), None)

    def reveal(self, path: Path) -> str:
        """Make ``path`` (a file under a hidden temp folder) readable at its own path inside
        the sandbox, read-only. Returns "" or why it could not be done."""
        temp = self.under_temp(path)
        if temp is None or not self.temps:
            return "it is not under a private temp folder"
        at = self.backing[temp] / path.relative_to(temp)
        if os.path.islink(at) and os.readlink(at).startswith(str(self.temps[0] / FILES_MOUNT)):
            return ""  # revealed before (a symlink loci made)
        if os.path.lexists(at):
            return "the code already has a file of that name in its /tmp"
        self._count += 1
        slot = self.files / str(self._count)
        slot.mkdir()
        try:
            os.link(path, slot / path.name)
        except OSError:
            try:
                if path.stat().st_size > _COPY_LIMIT:
                    return "it lies on another file system and is too large to copy"
                shutil.copy2(path, slot / path.name)
            except OSError as exc:
                return f"it cannot be read: {exc.strerror or exc}"
        at.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(self.temps[0] / FILES_MOUNT / str(self._count) / path.name, at)
        return ""

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
