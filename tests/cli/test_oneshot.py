"""The CLI without a terminal: one request, --json, piped stdin, the history commands."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

LOCI = [sys.executable, "-m", "loci.cli.main"]


ANSWER = "1267650600228229401496703205376"


def run(args: list[str], env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        LOCI + args, input=stdin, env=env, capture_output=True, text=True, timeout=120
    )


def test_version(cli_env: dict[str, str]) -> None:
    out = run(["--version"], cli_env)
    assert out.returncode == 0 and "loci" in out.stdout


def test_json_events_end_with_status_and_usage(
    cli_env: dict[str, str], script: Callable[..., str], workdir: Path
) -> None:
    spec = script("```python\nprint(2**100)\n```", f"It is {ANSWER}.")
    out = run(["--json", "-y", "-m", spec, "--workdir", str(workdir), "2**100?"], cli_env)
    assert out.returncode == 0, out.stderr
    events = [json.loads(line) for line in out.stdout.splitlines()]
    assert all("type" in e for e in events)
    assert events[-1]["type"] == "turn_done" and events[-1]["status"] == "done"
    assert events[-1]["usage"]["completion_tokens"] > 0
    printed = [e for e in events if e["type"] == "output" and e["stream"] == "stdout"]
    assert printed[0]["data"].strip() == ANSWER


def test_effort_prints_a_vote_event_and_keeps_the_agreed_answer(
    cli_env: dict[str, str], script: Callable[..., str], workdir: Path
) -> None:
    spec = script(
        "```python\nprint(6 * 7 - 1)\n```", "It is 41.",
        "```python\nprint(6 * 7)\n```", "It is 42.",
        "```python\nprint(7 * 6)\n```", "It is 42.",
    )  # fmt: skip
    args = ["--json", "-y", "--effort", "3", "-m", spec, "--workdir", str(workdir), "6*7?"]
    out = run(args, cli_env)
    assert out.returncode == 0, out.stderr
    events = [json.loads(line) for line in out.stdout.splitlines()]
    vote = next(e for e in events if e["type"] == "vote")
    assert (vote["answer"], vote["attempt"], vote["agree"], vote["attempts"]) == (
        "It is 42.", 2, 2, 3
    )  # fmt: skip
    assert not vote["again"] and vote["summary"].startswith("2 of 3 attempts agree")
    assert events[-1]["type"] == "turn_done" and events[-1]["steps"] == 6
    shown = run(["show", str(events[-1]["conversation_id"])], cli_env).stdout
    assert shown.count("Assistant (an attempt set aside by the vote)") == 4  # 2 attempts, 2 each


def test_plain_output_without_a_tty_and_nothing_runs_without_yes(
    cli_env: dict[str, str], script: Callable[..., str], workdir: Path
) -> None:
    spec = script("```python\nprint('ran')\n```", "I could not run it.")
    out = run(["-m", spec, "--workdir", str(workdir), "try"], cli_env)
    assert out.returncode == 0, out.stderr
    assert "\x1b[" not in out.stdout  # plain text
    assert "ran\n" not in out.stdout.replace("print('ran')", "")
    assert "not run" in out.stdout


def test_request_on_stdin(
    cli_env: dict[str, str], script: Callable[..., str], workdir: Path
) -> None:
    spec = script("```shell\necho piped-$((6*7))\n```", "Done.")
    out = run(["-y", "-m", spec, "--workdir", str(workdir)], cli_env, stdin="echo something\n")
    assert out.returncode == 0, out.stderr
    assert "piped-42" in out.stdout


def test_history_show_export(
    cli_env: dict[str, str], script: Callable[..., str], workdir: Path, tmp_path: Path
) -> None:
    spec = script("```python\nprint('stored output')\n```", "Stored.")
    assert run(["-y", "-m", spec, "--workdir", str(workdir), "remember"], cli_env).returncode == 0
    hist = json.loads(run(["history", "--json"], cli_env).stdout)
    conv = hist[0]["id"]
    assert hist[0]["title"] == "remember"
    shown = run(["show", str(conv)], cli_env)
    assert "stored output" in shown.stdout
    full = json.loads(run(["show", str(conv), "--json"], cli_env).stdout)
    assert "stored output" in json.dumps(full)
    nb = tmp_path / "c.ipynb"
    assert run(["export", str(conv), "--format", "ipynb", "-o", str(nb)], cli_env).returncode == 0
    import nbformat

    nbformat.validate(nbformat.read(str(nb), as_version=4))
    missing = run(["show", "9999"], cli_env)
    assert missing.returncode != 0 and "9999" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_malformed_config_is_one_clear_line(cli_env: dict[str, str], loci_home: Path) -> None:
    loci_home.mkdir(parents=True, exist_ok=True)
    (loci_home / "config.toml").write_text("model = \n")
    out = run(["hello"], cli_env)
    assert out.returncode == 2
    assert "config.toml" in out.stderr and "line 1" in out.stderr
    assert "Traceback" not in out.stderr


def test_bad_model_spec_is_one_line(cli_env: dict[str, str]) -> None:
    out = run(["-m", "nosuch:thing", "hi"], cli_env)
    assert out.returncode == 3 and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


@pytest.mark.slow  # creates a venv and pip-installs ipykernel into it (PyPI or pip cache)
def test_python_flag_uses_another_environment_and_installs_ipykernel(
    cli_env: dict[str, str], script: Callable[..., str], workdir: Path, tmp_path: Path
) -> None:
    import venv

    env_dir = tmp_path / "other-venv"
    venv.create(env_dir, with_pip=True)
    python = str(env_dir / "bin" / "python")
    spec = script("```python\nimport sys\nprint(sys.prefix)\n```", "Done.")
    refused = run(["--python", python, "-m", spec, "--workdir", str(workdir), "where?"], cli_env)
    assert refused.returncode == 4
    assert "pip install ipykernel" in refused.stderr and "Traceback" not in refused.stderr
    out = run(
        ["--json", "-y", "--python", python, "-m", spec, "--workdir", str(workdir), "where?"],
        cli_env,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    printed = [json.loads(line) for line in out.stdout.splitlines()]
    stdout = "".join(e["data"] for e in printed if e["type"] == "output")
    assert stdout.strip() == str(env_dir)


def test_json_input_gets_end_of_file_at_once_and_the_model_is_told(
    cli_env: dict[str, str], script: Callable[..., str], workdir: Path
) -> None:
    spec = script("```python\nanswer = input('go on? ')\n```", "Nobody answered.")
    out = run(["--json", "-y", "-m", spec, "--workdir", str(workdir), "ask me"], cli_env)
    assert out.returncode == 0, out.stderr
    events = [json.loads(line) for line in out.stdout.splitlines()]
    asks = [e for e in events if e["type"] == "input_request"]
    assert asks and asks[0]["prompt"] == "go on? " and asks[0]["execution_id"] > 0
    stdin = [e for e in events if e["type"] == "output" and e["stream"] == "stdin"]
    assert "nobody could answer" in stdin[0]["text"]
    done = next(e for e in events if e["type"] == "execution_done")
    assert done["error_name"] == "EOFError"
