"""The sandbox at the CLI: flags, config, the start-up warning, refusals under --json -y."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from loci.cli import run as cli_run
from loci.config import load_settings
from loci.errors import ConfigError
from loci.sandbox import Support

LOCI = [sys.executable, "-m", "loci.cli.main"]


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(LOCI + args, env=env, capture_output=True, text=True, timeout=120)


def test_settings_from_config_env_and_flags(loci_home: Path) -> None:
    loci_home.mkdir(parents=True)
    (loci_home / "config.toml").write_text('sandbox = "readonly"\nmemory_mb = 2048\n')
    s = load_settings()
    assert (s.sandbox, s.memory_mb, s.network, s.max_processes) == ("readonly", 2048, True, 512)
    s = load_settings({"sandbox": "off", "network": False}, env={"LOCI_HOME": str(loci_home)})
    assert (s.sandbox, s.network) == ("off", False)
    assert load_settings(env={"LOCI_HOME": str(loci_home), "LOCI_SANDBOX": "off"}).sandbox == "off"
    with pytest.raises(ConfigError, match="sandbox must be one of"):
        load_settings({"sandbox": "jail"})
    with pytest.raises(ConfigError, match="max_output_mb must be >= 0"):
        load_settings({"max_output_mb": -1})


def test_start_up_says_when_nothing_is_enforced(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from loci.sandbox import core

    monkeypatch.setattr(core, "probe", lambda: Support(None, "bubblewrap is not installed"))
    settings = load_settings({"workdir": tmp_path, "network": False})
    cli_run.announce_sandbox(settings, as_json=True)
    captured = capsys.readouterr()
    assert "NOT enforced: bubblewrap is not installed" in captured.err
    event = json.loads(captured.out)
    assert event["type"] == "notice" and event["level"] == "warning"


def test_risky_code_is_refused_under_json_and_the_model_is_told(
    cli_env: dict[str, str], script: Callable[..., str], workdir: Path
) -> None:
    spec = script("```shell\nrm -rf ~\n```", "```python\nprint('fine')\n```", "Done.")
    args = ["--json", "-y", "-m", spec, "--workdir", str(workdir), "--max-output-mb", "1"]
    out = run([*args, "clean up"], cli_env)
    assert out.returncode == 0, out.stderr
    events = [json.loads(line) for line in out.stdout.splitlines()]
    refusal = next(e for e in events if e["type"] == "approval")
    assert not refusal["approved"] and refusal["by"] == "policy"
    assert "deletes outside the workspace (rm ~)" in refusal["reason"]
    assert any(e["type"] == "output" and "fine" in e["data"] for e in events)
    shown = run(["show", str(events[-1]["conversation_id"])], cli_env)
    assert "Audit: at " in shown.stdout and "by auto" in shown.stdout


def test_bad_sandbox_flag_is_a_usage_error(cli_env: dict[str, str]) -> None:
    out = run(["--sandbox", "jail", "hi"], cli_env)
    assert out.returncode == 2 and "jail" in out.stderr


def test_serve_says_when_nothing_is_enforced(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from loci.cli import serve_cmd
    from loci.sandbox import core

    monkeypatch.setattr(core, "probe", lambda: Support(None, "bubblewrap is not installed"))
    monkeypatch.setattr(serve_cmd, "run_app", lambda app, sock: sock.close())  # do not block
    result = CliRunner().invoke(serve_cmd.serve, ["--port", "0", "--workdir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "loci is serving on" in result.output
    assert "NOT enforced: bubblewrap is not installed" in result.output
