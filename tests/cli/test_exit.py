"""A one-shot request ends its process once the answer is out, and leaves no kernel behind.

Kernels are found by their working folder (the ``left_behind`` fixture): each test's
workspace is its own, so any process still in it after loci exited was left behind.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

LOCI = [sys.executable, "-m", "loci.cli.main"]


@pytest.mark.parametrize(
    "replies",
    [
        pytest.param(["Nothing to run."], id="kernel-still-starting"),
        pytest.param(["```python\nprint(6 * 7)\n```", "It is 42."], id="kernel-used"),
        pytest.param(["```shell\nsleep 300 &\necho started\n```", "Started."], id="background"),
    ],
)
def test_one_shot_leaves_no_kernel_behind(
    cli_env: dict[str, str],
    script: Callable[..., str],
    workdir: Path,
    replies: list[str],
    left_behind: Callable[[Path], list[int]],
) -> None:
    spec = script(*replies)
    args = ["--json", "-y", "-m", spec, "--workdir", str(workdir), "go"]
    out = subprocess.run(LOCI + args, env=cli_env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.splitlines()[-1])["status"] == "done"
    assert left_behind(workdir.resolve()) == []
