"""Project instructions: the ``AGENTS.md`` files Codex, gptme, OpenHands and others read.

``load(workdir)`` finds ``AGENTS.md`` in the workspace and in the folders above it up to the
root of the git repository it lies in (none above it when it is in no repository), outermost
first, as Codex does: a repository's general rules, then the folder's own. They are joined
and cut at ``MAX_BYTES`` (Codex's default cap, 32 KiB), and the cut is said. A file that is
not a regular file, or that resolves into a credential store (a symlink to ``~/.ssh/...``),
is left out: nothing from there reaches a model.

The session gives the text to the model with its system prompt on every call (so it is never
dropped from the window as old messages are) and records it with the conversation, where
``loci show`` prints it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .protected import credential_paths, homes, within
from .sizes import human_size

FILENAME = "AGENTS.md"
MAX_BYTES = 32 * 1024


@dataclass(frozen=True)
class Instructions:
    text: str  # as the model gets it, cut to MAX_BYTES
    paths: tuple[Path, ...]
    size: int  # bytes in the files, before any cut
    cut: bool

    @property
    def level(self) -> Literal["info", "warning"]:
        """How the start-up line says it: a warning when the text was cut."""
        return "warning" if self.cut else "info"

    @property
    def source(self) -> str:
        return ", ".join(str(p) for p in self.paths)

    def note(self) -> str:
        """The start-up line: which files the model reads as the project's instructions."""
        names = self.source
        if self.cut:
            return (
                f"project instructions: {names} is {human_size(self.size)}; only its first "
                f"{human_size(MAX_BYTES)} go to the model"
            )
        return f"project instructions: {names} ({human_size(self.size)}) go to the model"


def find(workdir: Path) -> tuple[Path, ...]:
    """Each ``AGENTS.md`` from the repository root down to ``workdir``, outermost first."""
    folder = workdir.resolve()
    chain = [folder]
    for parent in folder.parents:
        if (chain[-1] / ".git").exists():
            break
        chain.append(parent)
    else:  # no repository above: only the workspace's own file counts
        chain = [folder]
    hidden = list(credential_paths(homes()))
    found = []
    for directory in reversed(chain):
        path = directory / FILENAME
        real = path.resolve()
        if path.is_file() and not any(within(real, h) for h in hidden):
            found.append(path)
    return tuple(found)


def load(workdir: Path, limit: int = MAX_BYTES) -> Instructions | None:
    """The project's instructions for ``workdir``, or None when it has no ``AGENTS.md``."""
    paths = find(workdir)
    chunks: list[bytes] = []
    read: list[Path] = []
    size = 0
    for path in paths:
        try:
            with path.open("rb") as f:
                data = f.read(limit + 1)
            size += path.stat().st_size
        except OSError:
            continue
        chunks.append(data)
        read.append(path)
    if not chunks:
        return None
    joined = b"\n\n".join(c.strip() for c in chunks)
    cut = len(joined) > limit or size > sum(len(c) for c in chunks)
    text = joined[:limit].decode("utf-8", errors="ignore").strip()
    if not text:
        return None
    return Instructions(text, tuple(read), size, cut)


__all__ = ["FILENAME", "MAX_BYTES", "Instructions", "find", "load"]
