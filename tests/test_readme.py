"""The README's architecture section names every module of ``src/loci``, and nothing else."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "loci"


def architecture_rows() -> list[tuple[list[str], str]]:
    """The table between the architecture markers: (the names in its first cell, the rest)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("<!-- architecture:", 1)[1].split("<!-- end of architecture -->", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 2 or not cells[0].startswith("`"):
            continue
        rows.append((re.findall(r"`([^`]+)`", cells[0]), cells[1]))
    return rows


def test_every_module_and_package_is_named() -> None:
    named = {name for names, _ in architecture_rows() for name in names}
    present = {p.name for p in SRC.glob("*.py")} | {
        f"{p.name}/" for p in SRC.iterdir() if (p / "__init__.py").exists()
    }
    assert present - named == set(), "add these to the README's architecture table"
    assert named - present == set(), "the README's architecture table names what is gone"


def test_files_named_inside_a_package_exist() -> None:
    for names, text in architecture_rows():
        for folder in (n for n in names if n.endswith("/")):
            for pattern in re.findall(r"`([\w*]+\.py)`", text):
                assert list((SRC / folder).glob(pattern)), f"{folder}{pattern} is not there"
