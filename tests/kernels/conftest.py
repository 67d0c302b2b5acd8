"""Helpers for the kernel tests: is a process still there (zombies count as gone)?"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    try:
        state = stat.read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def _gone_soon(pid: int, within: float = 3.0) -> bool:
    """Killed grandchildren are reaped by init a moment later, not by us."""
    deadline = time.monotonic() + within
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.fixture
def gone() -> Callable[[int], bool]:
    """``gone(pid)``: True once the process no longer runs (waits up to 3 s)."""
    return _gone_soon
