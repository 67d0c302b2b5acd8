from __future__ import annotations

from pathlib import Path

import pytest

from loci.config import load_settings
from loci.errors import ConfigError


def test_defaults(loci_home: Path) -> None:
    s = load_settings(env={"LOCI_HOME": str(loci_home)})
    assert s.model == "local" and s.home == loci_home and s.db_path.parent == loci_home
    assert not s.auto_run and s.max_steps >= 1


def test_precedence_file_then_env_then_flags(loci_home: Path) -> None:
    loci_home.mkdir()
    (loci_home / "config.toml").write_text(
        'model = "openai:from-file"\ntimeout = 30\nauto_run = true\napi_base = "http://file"\n'
    )
    env = {"LOCI_HOME": str(loci_home), "LOCI_MODEL": "openai:from-env"}
    s = load_settings(env=env)
    assert (s.model, s.timeout, s.auto_run, s.api_base) == (
        "openai:from-env",
        30.0,
        True,
        "http://file",
    )
    s = load_settings({"model": "scripted:x.json", "timeout": None}, env=env)
    assert s.model == "scripted:x.json" and s.timeout == 30.0
    assert load_settings({"timeout": 0}, env=env).timeout is None


def test_malformed_config_names_file_and_line(loci_home: Path) -> None:
    loci_home.mkdir()
    path = loci_home / "config.toml"
    path.write_text('model = "ok"\ntimeout = = 3\n')
    with pytest.raises(ConfigError) as err:
        load_settings(env={"LOCI_HOME": str(loci_home)})
    assert str(path) in str(err.value) and "line 2" in str(err.value)


@pytest.mark.parametrize(
    "line", ['auto_run = "yes"', "timeout = -1", 'colour = "red"', "max_steps = 0"]
)
def test_bad_values_are_config_errors(loci_home: Path, line: str) -> None:
    loci_home.mkdir()
    (loci_home / "config.toml").write_text(line + "\n")
    with pytest.raises(ConfigError):
        load_settings(env={"LOCI_HOME": str(loci_home)})
