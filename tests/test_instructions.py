"""Project instructions: AGENTS.md in the workspace reaches the model, the store and the person."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from loci import instructions
from loci.config import Settings
from loci.events import Notice
from loci.export import export_markdown
from loci.kernels.pool import KernelPool
from loci.models.scripted import ScriptedModel
from loci.session import Session
from loci.store import Store


def test_no_file_no_instructions(tmp_path: Path) -> None:
    assert instructions.load(tmp_path) is None


def test_from_the_repository_root_down_to_the_workspace(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    work = repo / "analysis" / "q3"
    work.mkdir(parents=True)
    (repo / ".git").mkdir()
    (tmp_path / "AGENTS.md").write_text("outside the repository: never read\n")
    (repo / "AGENTS.md").write_text("Use polars, not pandas.\n")
    (work / "AGENTS.md").write_text("Figures go in figures/.\n")
    given = instructions.load(work)
    assert given is not None and not given.cut
    assert given.text == "Use polars, not pandas.\n\nFigures go in figures/."
    assert given.paths == (repo / "AGENTS.md", work / "AGENTS.md")
    assert "go to the model" in given.note()


def test_outside_a_repository_only_the_workspace_counts(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (tmp_path / "AGENTS.md").write_text("a parent folder's file\n")
    assert instructions.load(work) is None


def test_a_large_file_is_cut_and_says_so(tmp_path: Path) -> None:
    (tmp_path / "AGENTS.md").write_text("rule\n" * 20_000)  # 100 KB
    given = instructions.load(tmp_path)
    assert given is not None and given.cut
    assert len(given.text.encode()) <= instructions.MAX_BYTES
    assert "only its first 32.0 KB go to the model" in given.note()


def test_a_link_into_a_credential_store_is_not_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_ed25519").write_text("PRIVATE KEY\n")
    monkeypatch.setenv("HOME", str(home))
    work = tmp_path / "work"
    work.mkdir()
    (work / "AGENTS.md").symlink_to(home / ".ssh" / "id_ed25519")
    assert instructions.load(work) is None


def _session(settings: Settings, pool: KernelPool, model: ScriptedModel) -> Session:
    return Session(settings, model=model, kernels=pool)


def test_the_model_is_given_them_every_call_and_the_store_keeps_them(
    settings: Settings, fake_pool: KernelPool
) -> None:
    (settings.workdir / "AGENTS.md").write_text("Always answer in French.\n")
    model = ScriptedModel(["Bonjour.", "Encore."])
    with _session(settings, fake_pool, model) as session:
        first = list(session.run("hello"))
        second = list(session.run("again"))
        conv = session.conversation_id
    notes = [e.message for e in first + second if isinstance(e, Notice)]
    assert notes == [
        f"project instructions: {settings.workdir / 'AGENTS.md'} (25 B) go to the model"
    ]
    for call in model.calls:
        assert call[0].role == "system" and "Always answer in French." in call[0].content
    with Store(settings.db_path) as store:
        record = store.get_conversation(conv)
    assert record.instructions == "Always answer in French."
    assert record.to_dict()["instructions_source"] == str(settings.workdir / "AGENTS.md")
    shown = export_markdown(record)
    assert "**Project instructions**" in shown and "> Always answer in French." in shown


def test_turned_off_they_are_not_given(settings: Settings, fake_pool: KernelPool) -> None:
    from dataclasses import replace

    (settings.workdir / "AGENTS.md").write_text("Always answer in French.\n")
    model = ScriptedModel(["Hello."])
    with _session(replace(settings, agents_md=False), fake_pool, model) as session:
        events = list(session.run("hello"))
    assert not [e for e in events if isinstance(e, Notice)]
    assert "French" not in model.calls[0][0].content


def test_the_cli_says_so_once_at_start_up(tmp_path: Path, loci_home: Path) -> None:
    work = tmp_path / "project"
    work.mkdir()
    (work / "AGENTS.md").write_text("Print every result with two decimals.\n")
    script = tmp_path / "script.json"
    script.write_text(json.dumps(["Done."]))
    out = subprocess.run(
        [sys.executable, "-m", "loci.cli.main", "--json", "-m", f"scripted:{script}", "hi"],
        cwd=work,
        env={**os.environ, "LOCI_HOME": str(loci_home)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    events = [json.loads(line) for line in out.stdout.splitlines()]
    notes = [e["message"] for e in events if e["type"] == "notice" and "AGENTS.md" in e["message"]]
    assert len(notes) == 1 and "project instructions" in notes[0]
    assert "project instructions" in out.stderr
    shown = subprocess.run(
        [sys.executable, "-m", "loci.cli.main", "show", str(events[-1]["conversation_id"])],
        env={**os.environ, "LOCI_HOME": str(loci_home)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "> Print every result with two decimals." in shown.stdout
