"""Which embedded model ``local`` means: chosen from the machine's cores and memory."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from loci import machine
from loci.cli import run as cli_run
from loci.config import load_settings
from loci.models.catalog import CATALOG, DEFAULT_MODEL, default_entry


@pytest.mark.parametrize(
    ("cores", "memory_gb", "expected"),
    [
        (2, 8.0, "qwen2.5-coder-0.5b"),  # the laptops and CI machines of today
        (4, 32.0, "qwen2.5-coder-0.5b"),
        (6, 6.0, "qwen2.5-coder-1.5b"),
        (16, 64.0, "qwen2.5-coder-1.5b"),
        (16, 4.0, "qwen2.5-coder-0.5b"),  # cores, but not the memory
        (1, 0.0, DEFAULT_MODEL),  # memory unknown: the small one
    ],
)
def test_the_default_follows_the_machine(cores: int, memory_gb: float, expected: str) -> None:
    assert default_entry(cores, memory_gb).name == expected


def test_every_preferred_model_is_in_the_catalog() -> None:
    from loci.models.catalog import PREFERRED

    assert set(PREFERRED) <= set(CATALOG) and PREFERRED[-1] == DEFAULT_MODEL


def test_a_cgroup_limit_counts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "cpu.max").write_text("150000 100000\n")  # 1.5 cores' worth of time
    (tmp_path / "memory.max").write_text(f"{2 * machine.GB}\n")
    monkeypatch.setattr(machine, "_CGROUP", tmp_path)
    assert machine.usable_cores() == min(2, len(os.sched_getaffinity(0)))
    assert machine.memory_bytes() == 2 * machine.GB
    (tmp_path / "cpu.max").write_text("max 100000\n")
    (tmp_path / "memory.max").write_text("max\n")
    assert machine.usable_cores() == len(os.sched_getaffinity(0))
    assert machine.memory_bytes() > 2 * machine.GB or machine.memory_bytes() == 0


def test_start_up_says_which_model_local_chose(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(machine, "this_machine", lambda: machine.Machine(8, 16 * machine.GB))
    monkeypatch.setattr("loci.models.local.this_machine", machine.this_machine)
    cli_run.announce_model(load_settings({"workdir": tmp_path, "model": "local"}), as_json=True)
    out = capsys.readouterr()
    assert (
        "embedded model qwen2.5-coder-1.5b, chosen for this machine (8 cores, 16.0 GB)" in out.err
    )
    assert "-m local:qwen2.5-coder-0.5b" in out.err
    assert json.loads(out.out)["type"] == "notice"
    for named in ("local:qwen2.5-coder-0.5b", "openai:gpt-4o"):
        cli_run.announce_model(load_settings({"workdir": tmp_path, "model": named}), as_json=True)
        assert capsys.readouterr() == ("", "")
