"""ShellKernel against a real bash."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from loci.events import KernelResult, Output
from loci.kernels.shell import ShellKernel, _Channel

pytestmark = pytest.mark.skipif(not Path("/bin/bash").exists(), reason="needs bash")


@pytest.fixture
def shell(tmp_path: Path) -> Iterator[ShellKernel]:
    # a grace that holds on a loaded machine: bash may take a moment to act on SIGINT
    with ShellKernel(tmp_path, env={"LOCI_TEST_VAR": "hello"}, grace=2.0) as k:
        yield k


def run(
    shell: ShellKernel,
    code: str,
    timeout: float | None = None,
    cancel: threading.Event | None = None,
) -> tuple[list[Output], KernelResult]:
    *events, result = list(shell.execute(code, timeout=timeout, cancel=cancel))
    assert isinstance(result, KernelResult)
    outputs = [event for event in events if isinstance(event, Output)]
    assert outputs == events
    return outputs, result


def text(outputs: list[Output], stream: str = "stdout") -> str:
    return "".join(o.data for o in outputs if o.stream == stream)


def test_cd_and_export_persist(shell: ShellKernel, tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    assert run(shell, "cd sub\nexport GREETING=hi\nlocal_var=1") == ([], KernelResult("ok", 0))
    outputs, _ = run(shell, 'pwd; echo "$GREETING $local_var $LOCI_TEST_VAR"')
    assert text(outputs) == f"{os.path.realpath(tmp_path / 'sub')}\nhi 1 hello\n"


def test_stdout_stderr_and_partial_lines(shell: ShellKernel) -> None:
    outputs, result = run(shell, "echo out; echo err >&2; printf 'no newline'")
    assert text(outputs) == "out\nno newline"
    assert text(outputs, "stderr") == "err\n"
    assert result == KernelResult("ok", exit_code=0)


def test_exit_status(shell: ShellKernel) -> None:
    _, result = run(shell, "ls /definitely/not/here")
    assert (result.status, result.exit_code) == ("error", 2)


def test_read_gets_end_of_file(shell: ShellKernel) -> None:
    started = time.monotonic()
    outputs, _ = run(shell, "read x; echo status=$?; cat; echo done", timeout=5)
    assert text(outputs) == "status=1\ndone\n"
    assert time.monotonic() - started < 2


def test_output_streams_live(shell: ShellKernel) -> None:
    started = time.monotonic()
    seen: list[tuple[float, str]] = []
    for event in shell.execute("printf 'one'; sleep 1; echo two"):
        if isinstance(event, Output):
            seen.append((time.monotonic() - started, event.data))
    assert seen[0][1] == "one" and seen[0][0] < 0.9
    assert "".join(data for _, data in seen) == "onetwo\n"


def test_utf8_and_invalid_bytes(shell: ShellKernel) -> None:
    outputs, _ = run(shell, "echo 'héllo ✓'; printf '\\xff\\n'")
    assert text(outputs) == "héllo ✓\n\ufffd\n"


def test_timeout_interrupts_sleep_and_keeps_state(shell: ShellKernel) -> None:
    run(shell, "export KEPT=yes")
    started = time.monotonic()
    outputs, result = run(shell, "echo before; sleep 100; echo after", timeout=0.3)
    assert time.monotonic() - started < 2
    assert text(outputs) == "before\n"
    assert (result.status, result.exit_code) == ("timeout", 130)
    assert result.message == "timed out after 0.3s; interrupted"
    outputs, _ = run(shell, "echo $KEPT")
    assert text(outputs) == "yes\n"


def test_interrupt_stops_the_whole_block(shell: ShellKernel) -> None:
    _, result = run(shell, "for i in 1 2 3; do sleep 100; done; echo loop-ended", timeout=0.3)
    assert result.status == "timeout" and result.exit_code == 130


def test_cancel_from_another_thread(shell: ShellKernel) -> None:
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    started = time.monotonic()
    _, result = run(shell, "sleep 100", cancel=cancel)
    assert time.monotonic() - started < 2
    assert (result.status, result.message) == ("interrupted", "interrupted")


def test_code_ignoring_sigint_gets_the_shell_restarted(shell: ShellKernel, tmp_path: Path) -> None:
    run(shell, "export LOST=1; cd /")
    started = time.monotonic()
    _, result = run(shell, "trap '' INT; sleep 100", timeout=1)
    assert time.monotonic() - started < 1 + 2.0 + 2  # timeout + grace + the restart
    assert result.status == "timeout"
    assert result.message == (
        "timed out after 1s; the shell did not stop and was restarted: "
        "the working directory and variables are reset"
    )
    outputs, _ = run(shell, 'echo "[$LOST]"; pwd')
    assert text(outputs) == f"[]\n{os.path.realpath(tmp_path)}\n"


def test_exit_is_reported_and_the_shell_restarted(shell: ShellKernel) -> None:
    old = shell.pid
    outputs, result = run(shell, "echo bye; exit 3")
    assert text(outputs) == "bye\n"
    assert (result.status, result.exit_code) == ("error", 3)
    assert "the shell exited (exit status 3) and was restarted" in result.message
    assert shell.pid != old
    outputs, result = run(shell, "echo back")
    assert (text(outputs), result.status) == ("back\n", "ok")


def test_shell_killed_between_blocks_is_restarted(shell: ShellKernel) -> None:
    assert shell.pid is not None
    os.kill(shell.pid, 9)
    time.sleep(0.1)
    outputs, result = run(shell, "echo alive")
    assert text(outputs) == "alive\n" and result.status == "ok"
    assert "restarted" in text(outputs, "stderr")


def test_abandoned_execution_is_stopped(shell: ShellKernel) -> None:
    events = shell.execute("echo go; sleep 100; echo never")
    assert next(events) == Output(stream="stdout", data="go\n")
    events.close()
    outputs, result = run(shell, "echo next", timeout=5)
    assert (text(outputs), result.status) == ("next\n", "ok")


def test_stopping_after_the_result_changes_nothing(shell: ShellKernel) -> None:
    run(shell, "export KEEP=1")
    for event in shell.execute("true"):
        if isinstance(event, KernelResult):
            break
    outputs, _ = run(shell, "echo $KEEP")
    assert text(outputs) == "1\n"


def test_shutdown_leaves_no_process(tmp_path: Path, gone: Callable[[int], bool]) -> None:
    shell = ShellKernel(tmp_path)
    outputs, _ = run(shell, "sleep 60 &\necho $!")
    child = int(text(outputs))
    pid = shell.pid
    assert pid is not None
    shell.shutdown()
    shell.shutdown()  # idempotent
    assert gone(pid) and gone(child)


def test_restart_resets_state(shell: ShellKernel) -> None:
    run(shell, "export GONE=1")
    shell.restart()
    outputs, _ = run(shell, 'echo "[$GONE]"')
    assert text(outputs) == "[]\n"


def test_channel_holds_back_a_split_marker() -> None:
    channel = _Channel("stdout", "__end_x__:")
    assert channel.feed(b"data __en") == "data "
    assert channel.feed(b"d_x__:0") == ""
    assert not channel.done
    assert channel.feed(b"\n") == ""
    assert channel.done and channel.status == "0"


def test_channel_decodes_split_utf8() -> None:
    channel = _Channel("stdout", "__end__")
    encoded = "✓".encode()
    assert channel.feed(encoded[:1]) == ""
    assert channel.feed(encoded[1:] + b"\n") == "✓\n"


def test_interrupt_works_when_loci_itself_ignores_sigint(tmp_path: Path) -> None:
    # `nohup loci serve &` starts loci with SIGINT ignored, which children inherit
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        kernel = ShellKernel(tmp_path, grace=2.0)
        kernel.start()
    finally:
        signal.signal(signal.SIGINT, previous)
    with kernel:
        _, result = run(kernel, "sleep 100", timeout=0.3)
    assert (result.status, result.message) == ("timeout", "timed out after 0.3s; interrupted")
