"""Byte counts as people read them, the same way in every message loci writes."""

from __future__ import annotations


def human_size(n: int) -> str:
    """``512 B``, ``2.0 KB``, ``10.0 MB``, ``3.2 GB`` (powers of 1024)."""
    if n < 1024:
        return f"{n} B"
    value = float(n)
    for unit in ("KB", "MB", "GB"):
        value /= 1024
        if value < 1024 or unit == "GB":
            break
    return f"{value:.1f} {unit}"
