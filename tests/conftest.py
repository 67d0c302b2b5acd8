"""Shared fixtures: every test gets its own LOCI_HOME and no API keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from loci.config import SETTINGS

# Every variable a setting reads: the developer's own keys and choices must not reach a test.
_STRIPPED = tuple(s.env for s in SETTINGS.values() if s.env)


@pytest.fixture(autouse=True)
def loci_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "loci-home"
    monkeypatch.setenv("LOCI_HOME", str(home))
    for name in _STRIPPED:
        monkeypatch.delenv(name, raising=False)
    return home
