"""A one-shot request ends its process once the answer is out, and leaves no kernel behind.

Kernels are found by their working folder (``/proc/PID/cwd``): each test's workspace is its
own, so any process still in it after loci exited was left behind by this request.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

LOCI = [sys.executable, "-m", "loci.cli.main"]
SETTLE_S = 5.0  # how long a kernel may take to finish ending after loci exits


def in_folder(folder: Path) -> list[int]:
    """The processes whose working folder is ``folder`` (or below it)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cwd = Path(os.readlink(entry / "cwd"))
        except OSError:
            continue
        if cwd == folder or folder in cwd.parents:
            found.append(int(entry.name))
    return found


def left_behind(folder: Path) -> list[int]:
    deadline = time.monotonic() + SETTLE_S
    while (pids := in_folder(folder)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return pids


@pytest.mark.parametrize(
    "replies",
    [
        pytest.param(["Nothing to run."], id="kernel-still-starting"),
        pytest.param(["```python\nprint(6 * 7)\n```", "It is 42."], id="kernel-used"),
        pytest.param(["```shell\nsleep 300 &\necho started\n```", "Started."], id="background"),
    ],
)
def test_one_shot_leaves_no_kernel_behind(
    cli_env: dict[str, str], script: Callable[..., str], workdir: Path, replies: list[str]
) -> None:
    spec = script(*replies)
    args = ["--json", "-y", "-m", spec, "--workdir", str(workdir), "go"]
    out = subprocess.run(LOCI + args, env=cli_env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.splitlines()[-1])["status"] == "done"
    assert left_behind(workdir.resolve()) == []
