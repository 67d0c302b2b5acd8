"""The boundaries of issue 10, each as a user meets it: secrets withheld from kernels (and
passed on purpose), files named under the host's /tmp readable, credential stores exposed on
purpose, the home folder never the writable workspace, and the lists in the README."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from sandbox_helpers import CONFINES, needs_sandbox

from loci.approval import auto_approve
from loci.config import load_settings
from loci.events import Event, ExecutionDone, Notice, Output
from loci.models.scripted import ScriptedModel
from loci.protected import CREDENTIALS, PROJECT, STARTUP
from loci.secret_env import Redactor, is_secret, withhold
from loci.session import Session

ROOT = Path(__file__).resolve().parents[2]
SECRET_ENV = {
    "OPENAI_API_KEY": "sk-env-lociSECRET0123456789",
    "ANTHROPIC_API_KEY": "sk-ant-lociSECRET0123456789",
    "GITHUB_TOKEN": "ghp_lociSECRETtoken0123456789",
}
LIST_ENV = (
    "import os\nprint(sorted(k for k in os.environ if any(m in k for m in "
    "('KEY', 'TOKEN', 'SECRET'))))"
)


def _run(settings_flags: dict[str, object], *replies: str, text: str = "go") -> list[Event]:
    settings = load_settings({"auto_run": True, "timeout": 20, **settings_flags})
    model = ScriptedModel([*replies, "Done."])
    with Session(settings, model=model, approver=auto_approve) as session:
        return list(session.run(text))


def _printed(events: list[Event]) -> str:
    return "".join(e.data for e in events if isinstance(e, Output))


@pytest.mark.parametrize("sandbox", ["workspace", "off"])
def test_secret_variables_never_reach_python_or_shell(
    sandbox: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if sandbox == "workspace" and not CONFINES:
        pytest.skip("needs the sandbox")
    for name, value in SECRET_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MY_PLAIN_SETTING", "visible")
    events = _run(
        {"workdir": tmp_path, "sandbox": sandbox},
        f"```python\n{LIST_ENV}\nprint(os.environ['MY_PLAIN_SETTING'])\n```",
        "```shell\nenv | grep -c -E 'KEY|TOKEN' ; echo plain=$MY_PLAIN_SETTING\n```",
    )
    printed = _printed(events)
    assert "[]\nvisible\n" in printed and "0\nplain=visible\n" in printed, printed


def test_a_variable_passed_on_purpose_reaches_the_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in SECRET_ENV.items():
        monkeypatch.setenv(name, value)
    events = _run(
        {"workdir": tmp_path, "pass_env": ("GITHUB_TOKEN",)},
        f"```python\n{LIST_ENV}\nprint(os.environ['GITHUB_TOKEN'])\n```",
    )
    assert f"['GITHUB_TOKEN']\n{SECRET_ENV['GITHUB_TOKEN']}\n" in _printed(events)


def test_known_secret_values_are_redacted_from_outputs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second guard: a value loci withheld, found another way (here: written into a
    file the code reads), is replaced before it is stored, shown or sent."""
    monkeypatch.setenv("OPENAI_API_KEY", SECRET_ENV["OPENAI_API_KEY"])
    (tmp_path / "leak.txt").write_text(f"key={SECRET_ENV['OPENAI_API_KEY']}\n")
    events = _run(
        {"workdir": tmp_path}, "```python\nprint(open('leak.txt').read())\n```", text="read it"
    )
    assert "key=[redacted OPENAI_API_KEY]" in _printed(events)
    assert SECRET_ENV["OPENAI_API_KEY"] not in repr(events)


def test_which_names_look_secret() -> None:
    for name in ("OPENAI_API_KEY", "GITHUB_TOKEN", "AWS_SECRET_ACCESS_KEY", "DB_PASSWORD",
                 "SSH_AUTH_SOCK", "NPM_AUTH", "GH_PAT", "MY_CREDENTIALS"):  # fmt: skip
        assert is_secret(name), name
    for name in ("PATH", "HOME", "PWD", "GIT_AUTHOR_NAME", "LANG", "PYTHONPATH", "TERM"):
        assert not is_secret(name), name
    assert is_secret("DATABASE_URL", "postgres://u:pw@host/db")
    assert not is_secret("DATABASE_URL", "postgres://host/db")
    kept, held = withhold({"A_TOKEN": "x" * 9, "B": "y"}, passed=["a_token"])
    assert kept == {"A_TOKEN": "x" * 9, "B": "y"} and held == {}
    redact = Redactor.from_values({"A": "short", "B": "longsecretvalue"})
    assert redact("short longsecretvalue") == "short [redacted B]"


@needs_sandbox
def test_a_file_named_under_the_hosts_tmp_is_readable_read_only(tmp_path: Path) -> None:
    """The sandbox's /tmp is private; a CSV the user names there is made readable at its own
    path, read-only, in the first request and in a later one (kernel already running)."""
    work = Path(__file__).resolve().parents[2] / ".pytest-work-named"  # not under /tmp
    work.mkdir(exist_ok=True)
    first, later = tmp_path / "sales.csv", tmp_path / "later data.csv"
    first.write_text("region,total\nnorth,10\nsouth,32\n")
    later.write_text("x\n1\n2\n")
    read = "```python\nimport pandas as pd\nprint(pd.read_csv({!r})['{}'].sum())\n```"
    write = f"```python\nopen({str(first)!r}, 'a').write('evil')\n```"
    settings = load_settings({"auto_run": True, "timeout": 20, "workdir": work})
    model = ScriptedModel([read.format(str(first), "total"), write, "Done."])
    try:
        with Session(settings, model=model, approver=auto_approve) as session:
            events = list(session.run(f"what is the total in {first}?"))
            assert "42\n" in _printed(events)
            assert f"{first}: about 2 rows" in model.calls[0][-1].content  # the preview
            done = [e for e in events if isinstance(e, ExecutionDone)]
            assert done[1].status == "error" and "Read-only" in done[1].error_value
            model.enqueue(read.format(str(later), "x"))
            model.enqueue("Done.")
            events = list(session.run(f"and the sum of x in '{later}'?"))
            assert "3\n" in _printed(events)
    finally:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    assert first.read_text() == "region,total\nnorth,10\nsouth,32\n"


@needs_sandbox
def test_a_hidden_file_is_named_not_described(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A credential the user names stays hidden (unless exposed), and the preview says so
    instead of describing a file the code cannot open."""
    home = Path(__file__).resolve().parents[2] / ".pytest-home-hidden"
    (home / ".aws").mkdir(parents=True, exist_ok=True)
    (home / ".aws" / "credentials.txt").write_text("aws_secret=lociSECRETaws0123")
    monkeypatch.setenv("HOME", str(home))
    read = "```python\nprint(open('{}').read())\n```".format(home / ".aws" / "credentials.txt")
    try:
        model = ScriptedModel([read, "Done."])
        settings = load_settings({"auto_run": True, "timeout": 20, "workdir": tmp_path})
        with Session(settings, model=model, approver=auto_approve) as session:
            events = list(session.run("show ~/.aws/credentials.txt"))
        notices = [e.message for e in events if isinstance(e, Notice)]
        assert any("credential store" in n for n in notices), notices
        assert "lociSECRETaws0123" not in repr(events) + repr(model.calls)
        assert "the code cannot open this file" in model.calls[0][-1].content
        # exposed on purpose: readable, read-only
        model = ScriptedModel([read, "Done."])
        settings = settings.replace(expose=(home / ".aws",))
        with Session(settings, model=model, approver=auto_approve) as session:
            events = list(session.run("show ~/.aws/credentials.txt"))
        assert "lociSECRETaws0123" in _printed(events)
    finally:
        import shutil

        shutil.rmtree(home, ignore_errors=True)


def test_the_home_folder_is_never_the_writable_workspace(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    home = Path.home()
    monkeypatch.chdir(home)
    settings = load_settings()
    assert settings.workdir == home / "loci-workspace" and settings.started_in == home
    assert load_settings({"workdir": Path("/")}).workdir == home / "loci-workspace"
    off = load_settings({"sandbox": "off"})
    assert off.workdir == home and off.started_in is None  # full rights, as asked


@needs_sandbox
def test_from_the_home_folder_with_yes(monkeypatch: pytest.MonkeyPatch) -> None:
    """``cd ~ && loci -y …``: the start-up line says where code works; a startup file and
    the key stay as they are; a file the user names in ~ is found."""
    home = Path(__file__).resolve().parents[2] / ".pytest-home-cli"
    (home / ".ssh").mkdir(parents=True, exist_ok=True)
    (home / ".ssh" / "id_ed25519").write_text("lociSECRETed25519key")
    (home / ".bashrc").write_text("# mine\n")
    (home / "notes.txt").write_text("hello from home\n")
    script = home / "script.json"
    code = (
        "import os\nk = os.path.expanduser('~/.s' + 'sh/id_' + 'ed25519')\n"
        "print(os.path.exists(k), os.listdir(os.path.dirname(k)))\n"
        "open(os.path.expanduser('~/.bash' + 'rc'), 'a').write('x')"
    )
    script.write_text(json.dumps([f"```python\n{code}\n```", "Done."]))
    env = {**os.environ, "HOME": str(home), "LOCI_HOME": str(home / ".loci"), **SECRET_ENV}
    try:
        done = subprocess.run(
            [sys.executable, "-m", "loci.cli.main", "-y", "-m", f"scripted:{script}",
             "look at notes.txt"],
            cwd=home, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert f"workspace {home / 'loci-workspace'}" in done.stderr, done.stderr
        assert "False []" in done.stdout and "Read-only file system" in done.stdout, done.stdout
        assert (home / ".bashrc").read_text() == "# mine\n"
        stored = b"".join(p.read_bytes() for p in (home / ".loci").glob("history.db*"))
        assert b"hello from home" in stored  # the preview found ~/notes.txt
        assert all(v.encode() not in stored for v in SECRET_ENV.values())
    finally:
        import shutil

        shutil.rmtree(home, ignore_errors=True)


def test_the_readme_prints_the_protected_lists() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("#### What the sandbox protects") :]
    listed = set(re.findall(r"`~/([^`]+)`|`([^`~][^`]*)`", section))
    names = {a or b for a, b in listed}
    for rel in (*CREDENTIALS, *STARTUP, *PROJECT):
        assert rel in names, f"{rel} is protected but the README does not list it"
