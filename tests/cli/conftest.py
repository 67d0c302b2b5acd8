from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    d = tmp_path / "work"
    d.mkdir()
    return d


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
