"""Shared fixtures: every test gets its own LOCI_HOME and no API keys."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from loci.config import SETTINGS, Settings, load_settings
from loci.kernels.fake import FakeKernel
from loci.kernels.pool import KernelPool

# Every variable a setting reads: the developer's own keys and choices must not reach a test.
_STRIPPED = tuple(s.env for s in SETTINGS.values() if s.env)


@pytest.fixture(autouse=True)
def loci_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "loci-home"
    monkeypatch.setenv("LOCI_HOME", str(home))
    for name in _STRIPPED:
        monkeypatch.delenv(name, raising=False)
    return home


# -- a session on fake kernels: ``settings`` with a fresh workspace, ``fake_pool`` whose
# kernels land in ``fakes`` by language as they are made


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    work = tmp_path / "work"
    work.mkdir()
    return load_settings({"workdir": work, "timeout": 20})


@pytest.fixture
def fakes() -> dict[str, FakeKernel]:
    return {}


@pytest.fixture
def fake_pool(settings: Settings, fakes: dict[str, FakeKernel]) -> KernelPool:
    def factory(language: str) -> FakeKernel:
        kernel = FakeKernel(language, workdir=settings.workdir)
        fakes[language] = kernel
        return kernel

    return KernelPool(settings.workdir, factory=factory)


@pytest.fixture
def script(tmp_path: Path) -> Callable[..., str]:
    """Write a scripted-model file (a JSON list of replies); returns its model spec."""

    def make(*replies: Any) -> str:
        path = tmp_path / f"script-{len(list(tmp_path.glob('script-*')))}.json"
        path.write_text(json.dumps(list(replies)))
        return f"scripted:{path}"

    return make


SETTLE_S = 5.0  # how long a kernel may take to finish ending once it was told to


def _in_folder(folder: Path) -> list[int]:
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


@pytest.fixture
def left_behind() -> Callable[[Path], list[int]]:
    """``left_behind(folder)``: the processes still working in ``folder`` after SETTLE_S."""

    def check(folder: Path) -> list[int]:
        folder = folder.resolve()
        deadline = time.monotonic() + SETTLE_S
        while (pids := _in_folder(folder)) and time.monotonic() < deadline:
            time.sleep(0.05)
        return pids

    return check
