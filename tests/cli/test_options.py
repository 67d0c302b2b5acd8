"""The CLI options that set settings are the declared ones, and set what they declare."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from loci.cli.main import chat, resume
from loci.cli.options import OPTION_SETTINGS, settings_flags
from loci.cli.serve_cmd import serve
from loci.config import SETTINGS


@pytest.mark.parametrize("command", [chat, serve, resume])
def test_each_settings_option_has_its_declared_names(command: click.Command) -> None:
    for param in command.params:
        s = OPTION_SETTINGS.get(param.name or "")
        if s is not None:
            assert tuple(param.opts) == s.flags, param.name


def test_loci_offers_every_declared_flag() -> None:
    offered = {p.name for p in chat.params}
    assert set(OPTION_SETTINGS) <= offered


def test_given_options_become_settings_and_absent_ones_do_not(tmp_path: Path) -> None:
    given = settings_flags(
        {"yes": True, "no_network": True, "expose": (), "pass_env": ("HF_TOKEN",),
         "workdir": tmp_path / "w" / "..", "timeout": None, "as_json": True, "max_steps": 3}
    )  # fmt: skip
    assert given == {
        "auto_run": True,
        "network": False,
        "pass_env": ("HF_TOKEN",),
        "workdir": tmp_path.resolve(),
        "max_steps": 3,
    }
    assert settings_flags({"yes": None, "no_network": None, "sandbox": None}) == {}


def test_option_types_come_from_the_declaration() -> None:
    by_name = {p.name: p for p in chat.params}
    sandbox = by_name["sandbox"].type
    assert isinstance(sandbox, click.Choice)
    assert tuple(sandbox.choices) == SETTINGS["sandbox"].choices
    steps = by_name["max_steps"].type
    assert isinstance(steps, click.IntRange) and steps.min == 1
    assert by_name["expose"].multiple and getattr(by_name["no_network"], "is_flag", False)
