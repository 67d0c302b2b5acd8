"""What this machine offers the code and the embedded model: usable cores and memory.

Both honour the limits a container or a cgroup sets, not only what the hardware has: cores
are those this process may run on (its CPU affinity, and the cgroup v2 ``cpu.max`` quota);
memory is the physical memory, capped by the cgroup's ``memory.max``.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

_CGROUP = Path("/sys/fs/cgroup")
GB = 1024**3


@dataclass(frozen=True)
class Machine:
    cores: int
    memory_bytes: int  # 0 when it cannot be told

    @property
    def memory_gb(self) -> float:
        return self.memory_bytes / GB

    def describe(self) -> str:
        """``8 cores, 15.5 GB``."""
        memory = f", {self.memory_gb:.1f} GB" if self.memory_bytes else ""
        return f"{self.cores} core{'s' if self.cores != 1 else ''}{memory}"


def _cgroup_value(name: str) -> str:
    try:
        return (_CGROUP / name).read_text(encoding="ascii").strip()
    except OSError:
        return ""


def usable_cores() -> int:
    """The cores this process may use."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    quota, _, period = _cgroup_value("cpu.max").partition(" ")
    if quota.isdigit() and period.isdigit() and int(period):
        cores = min(cores, max(1, math.ceil(int(quota) / int(period))))
    return max(1, cores)


def memory_bytes() -> int:
    """The memory this process may use (0 when it cannot be told)."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        total = 0
    limit = _cgroup_value("memory.max")
    if limit.isdigit():
        total = min(total, int(limit)) if total else int(limit)
    return total


def this_machine() -> Machine:
    return Machine(usable_cores(), memory_bytes())
