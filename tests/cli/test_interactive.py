"""The interactive chat through a real pseudo-terminal (pexpect): approval, edit, Ctrl-C, exit."""

from __future__ import annotations

import io
import os
import re
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pexpect
import pytest

LOCI = [sys.executable, "-m", "loci.cli.main"]
# prompt_toolkit turns on bracketed paste each time it is ready for input
PROMPT = r"\x1b\[\?2004h"


@pytest.fixture
def spawn(cli_env: dict[str, str], workdir: Path) -> Iterator[Callable[..., pexpect.spawn]]:
    children: list[pexpect.spawn] = []

    def start(*args: str, env: dict[str, str] | None = None) -> pexpect.spawn:
        child = pexpect.spawn(
            LOCI[0],
            [*LOCI[1:], "--workdir", str(workdir), *args],
            env=env or cli_env,
            encoding="utf-8",
            timeout=60,
            dimensions=(40, 100),
        )
        children.append(child)
        return child

    yield start
    for child in children:
        if child.isalive():
            child.terminate(force=True)


def wait_prompt(child: pexpect.spawn) -> None:
    """Wait until the prompt reads keys: a Ctrl-D typed while the terminal is still in
    cooked mode would be eaten by the tty driver instead of reaching the prompt."""
    child.expect(PROMPT)
    time.sleep(0.3)


def kernel_pids(workdir: Path) -> set[int]:
    """ipykernel processes running in this test's workdir."""
    pids = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if "ipykernel_launcher" in cmd and cwd == str(workdir):
            pids.add(int(entry.name))
    return pids


def test_chat_approve_run_answer_and_exit_cleanly(
    spawn: Callable[..., pexpect.spawn], script: Callable[..., str], cli_env: dict[str, str]
) -> None:
    spec = script("```python\nprint(6 * 7)\n```", "The answer is 42.")
    child = spawn("-m", spec)
    child.expect(PROMPT)
    child.sendline("what is 6*7?")
    child.expect(r"Run\? \[y\]es")
    child.sendline("y")
    child.expect("42")
    child.expect("The answer is 42")
    child.expect(PROMPT)
    child.sendline("%help")
    child.expect("%undo")
    wait_prompt(child)
    child.sendeof()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_edit_runs_exactly_the_edited_code(
    spawn: Callable[..., pexpect.spawn],
    script: Callable[..., str],
    cli_env: dict[str, str],
    tmp_path: Path,
) -> None:
    editor = tmp_path / "editor.sh"
    editor.write_text("#!/bin/sh\nsed -i 's/111/222/' \"$1\"\n")
    editor.chmod(editor.stat().st_mode | stat.S_IEXEC)
    env = dict(cli_env, EDITOR=str(editor))
    spec = script("```python\nprint(111)\n```", "ok")
    child = spawn("-m", spec, env=env)
    child.expect(PROMPT)
    child.sendline("print something")
    child.expect(r"Run\? ")
    child.sendline("e")
    child.expect("edited code")
    child.expect(r"Run\? ")
    child.sendline("y")
    child.expect("222")
    child.expect(PROMPT)
    assert "111\r\n──" not in child.before
    child.sendline("%exit")
    child.expect(pexpect.EOF)


def test_refusal_then_conversation_goes_on(
    spawn: Callable[..., pexpect.spawn], script: Callable[..., str]
) -> None:
    spec = script("```shell\nrm -rf ./data\n```", "Understood, nothing deleted.")
    child = spawn("-m", spec)
    child.expect(PROMPT)
    child.sendline("clean up")
    child.expect(r"Run\? ")
    child.sendline("n")
    child.expect("why")
    child.sendline("I need that data")
    child.expect("not run")
    child.expect("nothing deleted")
    child.expect(PROMPT)
    child.sendline("%exit")
    child.expect(pexpect.EOF)


def test_ctrl_c_interrupts_running_code_and_returns_to_prompt(
    spawn: Callable[..., pexpect.spawn], script: Callable[..., str], workdir: Path
) -> None:
    spec = script(
        "```python\nimport time\nprint('sta' + 'rted', flush=True)\n"
        "while True: time.sleep(0.1)\n```",
        "```python\nprint('still', 'alive')\n```",
        "yes",
    )
    child = spawn("-m", spec, "-y")
    child.expect(PROMPT)
    child.sendline("spin")
    child.expect("started")
    child.sendintr()
    child.expect("interrupted")
    child.expect(PROMPT)
    child.sendline("are you there?")
    child.expect("still alive")
    wait_prompt(child)
    child.sendeof()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert not kernel_pids(workdir)


def test_ctrl_c_stops_a_streaming_reply(
    spawn: Callable[..., pexpect.spawn], script: Callable[..., str], tmp_path: Path
) -> None:
    # A long reply streams slowly enough (3 characters per chunk) to be stopped mid-way.
    long = " ".join(f"word{i}" for i in range(40_000))
    spec = script(long, "second answer")
    child = spawn("-m", spec)
    child.expect(PROMPT)
    child.sendline("talk a lot")
    child.expect("word1")
    child.sendintr()
    child.expect("reply stopped")
    child.expect(PROMPT)
    child.sendline("again")
    child.expect("second answer")
    child.sendline("%exit")
    child.expect(pexpect.EOF)


def test_chinese_request_and_reply(
    spawn: Callable[..., pexpect.spawn], script: Callable[..., str]
) -> None:
    spec = script("```python\nprint('你好' * 2)\n```", "结果是：你好你好。")
    child = spawn("-m", spec, "-y")
    child.expect(PROMPT)
    child.sendline("打印两次你好")
    child.expect("你好你好")
    child.expect("结果是")
    child.sendline("%exit")
    child.expect(pexpect.EOF)


def test_in_chat_commands(
    spawn: Callable[..., pexpect.spawn], script: Callable[..., str], workdir: Path
) -> None:
    spec = script("first answer", "second answer")
    child = spawn("-m", spec)
    child.expect(PROMPT)
    child.sendline("first question")
    child.expect("first answer")
    child.expect(PROMPT)
    child.sendline("/tokens")
    child.expect(r"tokens in")
    child.expect(PROMPT)
    child.sendline("%auto")
    child.expect("auto-run on")
    child.expect(PROMPT)
    child.sendline("%model")
    child.expect("model: scripted")
    child.expect(PROMPT)
    child.sendline("%model nosuch:thing")
    child.expect("error")
    child.expect(PROMPT)
    child.sendline("%export md")
    child.expect(r"wrote .*\.md")
    child.expect(PROMPT)
    exported = list(workdir.glob("loci-*.md"))
    assert exported and "first question" in exported[0].read_text()
    child.sendline("%undo")
    child.expect("forgot your last request")
    child.expect(PROMPT)
    child.sendline("%reset")
    child.expect("new conversation")
    child.expect(PROMPT)
    child.sendline("%exit")
    child.expect(pexpect.EOF)


def test_effort_attempts_again_and_shows_the_kept_answer(
    spawn: Callable[..., pexpect.spawn], script: Callable[..., str]
) -> None:
    spec = script(
        "```python\nprint(6 * 7 - 1)\n```", "It is 41.",
        "```python\nprint(6 * 7)\n```", "It is 42.",
        "```python\nprint(7 * 6)\n```", "Six times seven: 42.",
    )  # fmt: skip
    child = spawn("-m", spec, "-y")
    child.expect(PROMPT)
    child.sendline("%effort 0")
    child.expect("at least 1")
    child.expect(PROMPT)
    child.sendline("%effort 3")
    child.expect("effort 3: up to 3 attempts")
    child.expect(PROMPT)
    child.sendline("six times seven?")
    child.expect("It is 41.")
    child.expect("effort 3: attempt 2 of 3, from the request alone")
    child.expect("It is 42.")
    child.expect("attempt 3 of 3")
    child.expect("Six times seven: 42.")
    child.expect("2 of 3 attempts agree: kept the answer of attempt 2")
    child.expect("It is 42.")  # shown again: another answer came after it
    child.expect(PROMPT)
    child.sendline("%exit")
    child.expect(pexpect.EOF)


def test_vars_shows_what_the_python_kernel_holds(
    spawn: Callable[..., pexpect.spawn], script: Callable[..., str]
) -> None:
    spec = script("```python\nrows = [1, 2, 3]\nimport json as js\n```", "Done.")
    child = spawn("-m", spec)
    child.expect(PROMPT)
    child.sendline("%vars")
    child.expect("holds nothing loci has looked at yet")
    child.expect(PROMPT)
    child.sendline("make some rows")
    child.expect(r"Run\? \[y\]es")
    child.sendline("y")
    child.expect("Done.")
    child.expect(PROMPT)
    child.sendline("%vars")
    child.expect(r"The Python session holds: rows: list len 3\.")
    child.expect("Imported: json as js.")
    child.expect(PROMPT)
    child.sendline("%exit")
    child.expect(pexpect.EOF)


def test_edit_an_earlier_request_goes_on_in_a_branch(
    spawn: Callable[..., pexpect.spawn],
    script: Callable[..., str],
    cli_env: dict[str, str],
    tmp_path: Path,
) -> None:
    editor = tmp_path / "editor.sh"
    editor.write_text("#!/bin/sh\nsed -i 's/second/changed/' \"$1\"\n")
    editor.chmod(editor.stat().st_mode | stat.S_IEXEC)
    spec = script("one", "two", "the changed answer")
    child = spawn("-m", spec, env=dict(cli_env, EDITOR=str(editor)))
    child.expect(PROMPT)
    child.sendline("first question")
    child.expect("one")
    child.expect(PROMPT)
    child.sendline("second question")
    child.expect("two")
    child.expect(PROMPT)
    child.sendline("%edit")
    child.expect(r"2  second question")
    child.expect(PROMPT)
    child.sendline("%edit 2")
    child.expect(r"conversation 2: a branch of 1 from request 2; kernels restarted")
    child.expect("the changed answer")
    child.expect(PROMPT)
    child.sendline("%edit")
    child.expect(r"2  changed question")
    child.expect(PROMPT)
    child.sendline("%exit")
    child.expect(pexpect.EOF)
    history = subprocess.run(
        [*LOCI, "history"], env=cli_env, capture_output=True, text=True, timeout=60
    )
    assert history.returncode == 0, history.stderr
    assert re.search(r"^\s+2 ← 1 .*first question", history.stdout, re.M), history.stdout
    shown = subprocess.run(
        [*LOCI, "show", "2"], env=cli_env, capture_output=True, text=True, timeout=60
    )
    assert "A branch of conversation 1: request 2 was edited" in shown.stdout
    assert "changed question" in shown.stdout and "second question" not in shown.stdout


def test_input_prompt_reaches_the_terminal_and_a_password_stays_hidden(
    spawn: Callable[..., pexpect.spawn], script: Callable[..., str]
) -> None:
    spec = script(
        "```python\nimport getpass\nname = input('your ' + 'name? ')\n"
        "pw = getpass.getpass('sec' + 'ret: ')\nprint('hi', name, len(pw))\n```",
        "Greeted.",
    )
    child = spawn("-m", spec, "-y")
    child.logfile_read = seen = io.StringIO()
    child.expect(PROMPT)
    child.sendline("greet me")
    child.expect("your name\\?")  # the prompt itself: the code shown splits the words
    time.sleep(0.3)  # a line typed before the prompt reads keys is echoed by the tty
    child.sendline("Ada")
    child.expect("secret:")
    time.sleep(0.3)
    child.sendline("hunter2")
    child.expect("hi Ada 7")
    child.expect("Greeted")
    child.expect(PROMPT)
    assert "hunter2" not in seen.getvalue()  # not echoed, not printed back
    child.sendline("%exit")
    child.expect(pexpect.EOF)


def test_ctrl_c_at_an_input_prompt_stops_the_block_and_keeps_the_kernel(
    spawn: Callable[..., pexpect.spawn], script: Callable[..., str]
) -> None:
    spec = script(
        "```python\nx = 5\nname = input('your ' + 'name? ')\n```",
        "```python\nprint('x is', x * 6)\n```",
        "It is 30.",
    )
    child = spawn("-m", spec, "-y")
    child.expect(PROMPT)
    child.sendline("ask my name")
    child.expect("your name\\?")
    time.sleep(0.3)
    child.sendcontrol("c")  # nobody answers: the read is interrupted, not the session
    child.expect("KeyboardInterrupt")
    child.expect("interrupted")
    child.expect(PROMPT)
    child.sendline("what is x times 6?")
    child.expect("x is 30")  # the same kernel, what it held before the read still there
    child.expect("It is 30")
    child.expect(PROMPT)
    child.sendline("%exit")
    child.expect(pexpect.EOF)


def test_compact_and_tokens_show_and_change_what_the_model_is_sent(
    spawn: Callable[..., pexpect.spawn], script: Callable[..., str], loci_home: Path
) -> None:
    from loci.store import Store

    loci_home.mkdir(parents=True, exist_ok=True)
    (loci_home / "config.toml").write_text("context_window = 4000\n")
    child = spawn("-m", script("The first answer.", "The second answer."))
    child.expect(PROMPT)
    child.sendline("%compact")
    child.expect("nothing to compact")
    child.expect(PROMPT)
    for request, answer in (("first request", "first answer"), ("second one", "second answer")):
        child.sendline(request)
        child.expect(f"The {answer}")
        child.expect(PROMPT)
    child.sendline("%tokens")
    child.expect(r"next call: ~\d+ tokens of a 4000-token window \(3000 for the prompt")
    child.expect("0 of 2 requests compacted")
    child.expect(PROMPT)
    child.sendline("%compact")
    child.expect(r"compacted the first 1 request into a digest \([\d,]+ characters\)")
    child.expect(PROMPT)
    child.sendline("%tokens")
    child.expect(r"1 of 2 requests compacted \(a digest\)")
    child.expect(PROMPT)
    child.sendline("%exit")
    child.expect(pexpect.EOF)
    with Store(loci_home / "history.db") as store:
        (conv,) = store.list_conversations()
        (made,) = store.get_conversation(conv.id).compactions
    assert made.reason == "asked" and "first request" in made.text and "first answer" in made.text
