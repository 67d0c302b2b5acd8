"""JupyterKernel against a real ipykernel (small timeouts and grace keep this fast)."""

from __future__ import annotations

import base64
import json
import os
import stat
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from loci.errors import KernelError
from loci.events import InputRequest, KernelResult, Output
from loci.kernels.jupyter import JupyterKernel, has_ipykernel, ipykernel_install_command


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("workspace")


@pytest.fixture(scope="module")
def kernel(workdir: Path) -> Iterator[JupyterKernel]:
    with JupyterKernel(workdir, env={"LOCI_TEST_VAR": "hello"}, grace=1.0) as k:
        yield k


def run(
    kernel: JupyterKernel,
    code: str,
    timeout: float | None = None,
    cancel: threading.Event | None = None,
) -> tuple[list[Output], KernelResult]:
    *events, result = list(kernel.execute(code, timeout=timeout, cancel=cancel))
    assert isinstance(result, KernelResult)
    outputs = [event for event in events if isinstance(event, Output)]
    assert outputs == events
    return outputs, result


def test_state_persists_and_last_expression_is_shown(kernel: JupyterKernel) -> None:
    assert run(kernel, "x = 20") == ([], KernelResult(status="ok"))
    outputs, result = run(kernel, "x * 2 + 2")
    assert result.status == "ok"
    assert [(o.stream, o.data) for o in outputs] == [("result", "42")]


def test_stdout_and_stderr(kernel: JupyterKernel) -> None:
    outputs, _ = run(kernel, "import sys\nprint('out')\nprint('err', file=sys.stderr)")
    text = {o.stream: o.data for o in outputs}
    assert text == {"stdout": "out\n", "stderr": "err\n"}


def test_error_with_traceback(kernel: JupyterKernel) -> None:
    outputs, result = run(kernel, "def f():\n    return 1 / 0\nf()")
    assert (result.status, result.error_name) == ("error", "ZeroDivisionError")
    assert result.error_value == "division by zero"
    (error,) = outputs
    assert error.stream == "error"
    assert "return 1 / 0" in error.data and "\x1b" not in error.data


def test_cwd_and_env(kernel: JupyterKernel, workdir: Path) -> None:
    outputs, _ = run(kernel, "import os\nprint(os.getcwd(), os.environ['LOCI_TEST_VAR'])")
    assert outputs[0].data == f"{os.path.realpath(workdir)} hello\n"
    assert kernel.cwd == workdir


def test_matplotlib_figure_arrives_as_png(kernel: JupyterKernel) -> None:
    code = "import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.show()"
    outputs, result = run(kernel, code)
    assert result.status == "ok"
    images = [o for o in outputs if o.mime == "image/png"]
    assert len(images) == 1
    assert images[0].stream == "display"
    assert base64.b64decode(images[0].data).startswith(b"\x89PNG")
    assert images[0].text.startswith("<Figure")


def test_dataframe_gives_html_with_text_fallback(kernel: JupyterKernel) -> None:
    outputs, _ = run(kernel, "import pandas as pd\npd.DataFrame({'city': ['Paris'], 'n': [3]})")
    (out,) = outputs
    assert (out.stream, out.mime) == ("result", "text/html")
    assert "<table" in out.data
    assert "city" in out.text and "Paris" in out.text and "<" not in out.text


def test_input_is_asked_for_and_end_of_file_ends_it_at_once(kernel: JupyterKernel) -> None:
    started = time.monotonic()
    events = []
    for event in kernel.execute("input('name? ')", timeout=10):
        events.append(event)
        if isinstance(event, InputRequest):
            kernel.answer(None)  # what loci answers when nobody can
    assert time.monotonic() - started < 5
    assert events[0] == InputRequest("name? ")
    result = events[-1]
    assert isinstance(result, KernelResult)
    assert (result.status, result.error_name) == ("error", "EOFError")


def test_timeout_interrupts_and_keeps_variables(kernel: JupyterKernel) -> None:
    run(kernel, "kept = 7")
    started = time.monotonic()
    _, result = run(kernel, "while True:\n    pass", timeout=0.5)
    assert time.monotonic() - started < 3
    assert result.status == "timeout"
    assert result.message == "timed out after 0.5s; interrupted"
    outputs, _ = run(kernel, "kept")
    assert outputs[0].data == "7"


def test_cancel_from_another_thread(kernel: JupyterKernel) -> None:
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    started = time.monotonic()
    _, result = run(kernel, "import time\ntime.sleep(30)", cancel=cancel)
    assert time.monotonic() - started < 3
    assert (result.status, result.message) == ("interrupted", "interrupted")


def test_an_interrupt_before_the_block_begins_still_stops_it(kernel: JupyterKernel) -> None:
    # sent at once, the SIGINT reaches the silent block before the code, or the kernel
    # between blocks (where ipykernel ignores it): the code is interrupted again once it runs
    run(kernel, "kept = 'yes'")
    cancel = threading.Event()
    cancel.set()
    _, result = run(kernel, "import time\ntime.sleep(30)", cancel=cancel)
    assert (result.status, result.message) == ("interrupted", "interrupted")
    outputs, _ = run(kernel, "kept")
    assert outputs[0].data == "'yes'"


def test_code_ignoring_sigint_gets_the_kernel_restarted(kernel: JupyterKernel) -> None:
    run(kernel, "lost = 1")
    code = "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nprint('ready')\n"
    code += "while True:\n    time.sleep(0.01)"
    cancel = threading.Event()
    events = []
    for event in kernel.execute(code, cancel=cancel):
        events.append(event)
        if isinstance(event, Output) and event.data == "ready\n":
            cancel.set()  # only now is SIGINT surely ignored
    result = events[-1]
    assert isinstance(result, KernelResult)
    assert result.status == "interrupted"
    assert result.message == (
        "interrupted; the kernel did not stop and was restarted: variables are gone"
    )
    _, result = run(kernel, "lost")
    assert result.error_name == "NameError"


def test_kernel_death_is_reported_and_recovered(kernel: JupyterKernel) -> None:
    run(kernel, "lost = 1")
    old_pid = kernel.pid
    outputs, result = run(kernel, "import os\nos._exit(1)")
    assert result.status == "crashed"
    assert result.exit_code == 1
    assert result.message == (
        "the Python kernel died (exit code 1) and was restarted: variables are gone"
    )
    assert kernel.pid != old_pid
    outputs, result = run(kernel, "print('back')\nlost")
    assert outputs[0].data == "back\n"
    assert result.error_name == "NameError"


def test_abandoned_execution_is_stopped(kernel: JupyterKernel) -> None:
    events = kernel.execute("import time\nprint('go')\ntime.sleep(30)")
    assert next(events) == Output(stream="stdout", data="go\n")
    started = time.monotonic()
    events.close()  # e.g. the web client went away
    outputs, result = run(kernel, "21 * 2", timeout=10)
    assert time.monotonic() - started < 3
    assert (outputs[0].data, result.status) == ("42", "ok")


def test_private_unix_sockets(kernel: JupyterKernel) -> None:
    connection_file = kernel.connection_file
    assert connection_file is not None
    assert json.loads(connection_file.read_text())["transport"] == "ipc"
    assert stat.S_IMODE(connection_file.parent.stat().st_mode) & 0o077 == 0  # owner only


def test_shutdown_leaves_no_process(tmp_path: Path, gone: Callable[[int], bool]) -> None:
    k = JupyterKernel(tmp_path, grace=0.5)
    outputs, _ = run(k, "import subprocess\np = subprocess.Popen(['sleep', '60'])\nprint(p.pid)")
    child = int(outputs[0].data)
    pid, connection_file = k.pid, k.connection_file
    assert pid is not None and connection_file is not None and connection_file.exists()
    k.shutdown()
    k.shutdown()  # idempotent
    assert gone(pid) and gone(child)
    assert k.pid is None
    assert not connection_file.parent.exists()


def test_start_is_idempotent_and_thread_safe(tmp_path: Path) -> None:
    k = JupyterKernel(tmp_path)
    try:
        threads = [threading.Thread(target=k.start) for _ in range(3)]
        for t in threads:
            t.start()
        outputs, _ = run(k, "1 + 1")  # waits for the background start
        for t in threads:
            t.join()
        pid = k.pid
        k.start()
        assert k.pid == pid
        assert outputs[0].data == "2"
    finally:
        k.shutdown()


def test_bad_python_path(tmp_path: Path) -> None:
    k = JupyterKernel(tmp_path, python=str(tmp_path / "no-such-python"))
    with pytest.raises(KernelError, match="no Python interpreter"):
        k.start()


def test_python_without_ipykernel_names_the_install_command(tmp_path: Path) -> None:
    fake_python = tmp_path / "python"
    fake_python.write_text("#!/bin/sh\nexit 1\n")
    fake_python.chmod(0o755)
    k = JupyterKernel(tmp_path, python=str(fake_python), start_timeout=10)
    with pytest.raises(KernelError, match="pip install ipykernel"):
        k.start()
    k.shutdown()


def test_ipykernel_helpers(tmp_path: Path) -> None:
    assert has_ipykernel(sys.executable)
    assert not has_ipykernel(str(tmp_path / "missing"))
    assert ipykernel_install_command("py") == ["py", "-m", "pip", "install", "ipykernel"]
