"""Lint and type checks are part of the suite: ruff on everything, mypy --strict on src/."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=600
    )


def test_ruff() -> None:
    out = _run("ruff", "check", "src", "tests", "benchmarks")
    assert out.returncode == 0, out.stdout + out.stderr


def test_mypy_strict() -> None:
    out = _run("mypy")
    assert out.returncode == 0, out.stdout + out.stderr


def test_public_api_is_pinned() -> None:
    import loci

    assert sorted(loci.__all__) == [
        "Approval", "CodeBlock", "ConfigError", "Decision", "Event", "ExecutionDone",
        "ExecutionStart", "Grounding", "KernelError", "LociError", "ModelDone", "ModelError",
        "Notice", "Output", "ScriptedModel", "Session", "Settings", "StoreError", "TextDelta",
        "TurnDone", "TurnStart", "Usage", "Vote", "auto_approve", "deny_all", "load_settings",
    ]  # fmt: skip
    for name in loci.__all__:
        assert getattr(loci, name) is not None


def test_import_has_no_side_effects() -> None:
    code = (
        "import os, sys, threading; before = dict(os.environ); argv = list(sys.argv); "
        "import loci, loci.cli.main; "
        "assert dict(os.environ) == before and sys.argv == argv; "
        "assert threading.active_count() == 1; "
        "assert 'openai' not in sys.modules and 'llama_cpp' not in sys.modules"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
