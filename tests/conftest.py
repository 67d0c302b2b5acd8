"""Shared fixtures: every test gets its own LOCI_HOME and no API keys."""

from __future__ import annotations

from pathlib import Path

import pytest

_STRIPPED = (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "ANTHROPIC_API_KEY",
    "LOCI_MODEL",
    "LOCI_MODELS_DIR",
)


@pytest.fixture(autouse=True)
def loci_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "loci-home"
    monkeypatch.setenv("LOCI_HOME", str(home))
    for name in _STRIPPED:
        monkeypatch.delenv(name, raising=False)
    return home
