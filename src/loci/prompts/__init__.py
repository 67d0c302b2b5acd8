"""System prompts, kept as data files beside this module."""

from __future__ import annotations

from importlib import resources


def load(name: str, **values: str) -> str:
    text = resources.files(__package__).joinpath(f"{name}.md").read_text(encoding="utf-8")
    return text.format(**values).strip()
