"""Can this machine confine a process? Asked once per process, by really trying.

``probe()`` runs ``bwrap --ro-bind / / ... true`` with the namespaces loci uses. It fails on
machines without bubblewrap, inside containers that forbid user namespaces, or where a
security module blocks them; the answer then says why, and loci falls back to approvals only
(and says so at start-up) instead of pretending.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass

__all__ = ["Support", "probe"]


@dataclass(frozen=True)
class Support:
    """What the OS lets loci enforce here."""

    bwrap: str | None  # the bubblewrap executable, when it works
    reason: str = ""  # why confinement is unavailable ("" when it is available)
    user_namespace: bool = False  # --unshare-user works (process limit for non-root users)

    @property
    def available(self) -> bool:
        return self.bwrap is not None


_BASE = ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--unshare-pid"]


def _works(argv: list[str]) -> tuple[bool, str]:
    try:
        done = subprocess.run(argv, capture_output=True, timeout=20, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        return False, str(exc)
    detail = done.stderr.decode("utf-8", "replace").strip().splitlines()
    return done.returncode == 0, detail[-1] if detail else f"exit status {done.returncode}"


@functools.lru_cache(maxsize=1)
def probe() -> Support:
    """Whether bubblewrap can confine a kernel on this machine (cached)."""
    if not sys.platform.startswith("linux"):
        return Support(None, f"sandboxing needs Linux with bubblewrap (this is {sys.platform})")
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return Support(None, "bubblewrap (bwrap) is not installed; e.g. apt install bubblewrap")
    ok, detail = _works([bwrap, *_BASE, "--unshare-net", "true"])
    if not ok:
        who = "root" if os.geteuid() == 0 else "this user"
        return Support(None, f"bubblewrap cannot create namespaces for {who} here: {detail}")
    userns, _ = _works([bwrap, "--unshare-user", *_BASE, "true"])
    return Support(bwrap, "", user_namespace=userns)
