from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    d = tmp_path / "work"
    d.mkdir()
    return d


@pytest.fixture
def script(tmp_path: Path) -> Callable[..., str]:
    """Write a scripted-model file; returns the model spec."""

    def make(*replies: Any) -> str:
        path = tmp_path / f"script-{len(list(tmp_path.glob('script-*')))}.json"
        path.write_text(json.dumps(list(replies)))
        return f"scripted:{path}"

    return make


@pytest.fixture
def cli_env(loci_home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["LOCI_HOME"] = str(loci_home)
    env.pop("EDITOR", None)
    env.pop("VISUAL", None)
    env["TERM"] = "xterm"
    env["COLUMNS"] = "100"
    env["PROMPT_TOOLKIT_NO_CPR"] = "1"
    return env
