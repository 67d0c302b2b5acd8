"""GatewayKernel against a real Jupyter Kernel Gateway on 127.0.0.1 (small timeouts and grace)."""

from __future__ import annotations

import base64
import hashlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway_server import (
    GatewayServer,
    free_port,
    have_bash_kernel,
    have_gateway,
    have_scheme_kernel,
)
from loci.errors import KernelError
from loci.events import KernelResult, Output
from loci.kernels.gateway import GatewayKernel, gateway_kernelspecs, gateway_languages

# a 1x1 PNG
_PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg"
    "=="
)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayServer]:
    if not have_gateway():
        pytest.skip("jupyter_kernel_gateway is not installed (pip install jupyter_kernel_gateway)")
    root = tmp_path_factory.mktemp("gateway")
    with GatewayServer(root, bash=have_bash_kernel(), scheme=have_scheme_kernel()) as gw:
        yield gw


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("workspace")


@pytest.fixture(scope="module")
def kernel(gateway: GatewayServer, workdir: Path) -> Iterator[GatewayKernel]:
    env = {"LOCI_TEST_VAR": "hello"}
    with GatewayKernel(gateway.url, workdir, token=gateway.token, grace=2.0, env=env) as k:
        yield k


@pytest.fixture(scope="module")
def scheme(gateway: GatewayServer, workdir: Path) -> Iterator[GatewayKernel]:
    """A kernel of a language loci knows nothing about: Calysto Scheme."""
    if not have_scheme_kernel():
        pytest.skip("calysto_scheme is not installed (pip install calysto_scheme)")
    with GatewayKernel(
        gateway.url,
        workdir,
        token=gateway.token,
        kernel_name="calysto_scheme",
        language="scheme",
        grace=2.0,
    ) as k:
        yield k


def run(
    kernel: GatewayKernel,
    code: str,
    timeout: float | None = None,
    cancel: threading.Event | None = None,
) -> tuple[list[Output], KernelResult]:
    *events, result = list(kernel.execute(code, timeout=timeout, cancel=cancel))
    assert isinstance(result, KernelResult)
    outputs = [event for event in events if isinstance(event, Output)]
    assert outputs == events
    return outputs, result


def text(outputs: list[Output], stream: str = "stdout") -> str:
    return "".join(o.data for o in outputs if o.stream == stream)


def test_outputs_errors_and_images_arrive_as_events(kernel: GatewayKernel) -> None:
    outputs, result = run(kernel, "import sys\nprint('out')\nprint('err', file=sys.stderr)\n6 * 7")
    assert result == KernelResult(status="ok")
    assert (text(outputs), text(outputs, "stderr"), text(outputs, "result")) == (
        "out\n",
        "err\n",
        "42",
    )
    outputs, result = run(kernel, "def f():\n    return 1 / 0\nf()")
    assert (result.status, result.error_name, result.error_value) == (
        "error",
        "ZeroDivisionError",
        "division by zero",
    )
    assert "return 1 / 0" in text(outputs, "error")
    code = "import base64\nfrom IPython.display import Image, display\n"
    outputs, result = run(kernel, code + f"display(Image(base64.b64decode({_PNG!r})))")
    assert result.status == "ok", outputs
    (image,) = outputs
    assert (image.stream, image.mime) == ("display", "image/png")
    assert base64.b64decode(image.data) == base64.b64decode(_PNG)


def test_state_cwd_and_env(kernel: GatewayKernel, gateway: GatewayServer, workdir: Path) -> None:
    assert run(kernel, "x = 20")[1].status == "ok"
    outputs, _ = run(
        kernel, "import os\nprint(x * 2 + 2, os.getcwd(), os.environ['LOCI_TEST_VAR'])"
    )
    assert text(outputs) == f"42 {kernel.remote_cwd} hello\n"
    assert kernel.remote_cwd is not None and Path(kernel.remote_cwd).name.startswith("loci-")
    assert kernel.cwd == workdir
    assert kernel.kernel_id in gateway.kernel_ids()


def test_timeout_interrupts_and_the_next_block_runs(kernel: GatewayKernel) -> None:
    run(kernel, "kept = 'yes'")
    outputs, result = run(kernel, "print('start', flush=True)\nwhile True: pass", timeout=1.0)
    assert text(outputs) == "start\n"
    assert (result.status, result.message) == ("timeout", "timed out after 1s; interrupted")
    cancel = threading.Event()
    threading.Timer(0.5, cancel.set).start()
    _, result = run(kernel, "import time\ntime.sleep(30)", cancel=cancel)
    assert (result.status, result.message) == ("interrupted", "interrupted")
    outputs, result = run(kernel, "print(kept)")
    assert (text(outputs), result.status) == ("yes\n", "ok")
    cancel.clear()
    cancel.set()  # at once, perhaps before the kernel begins the block: still interrupted
    _, result = run(kernel, "time.sleep(30)", cancel=cancel)
    assert (result.status, result.message) == ("interrupted", "interrupted")
    outputs, result = run(kernel, "print(kept)")
    assert (text(outputs), result.status) == ("yes\n", "ok")


def test_abandoned_block_is_interrupted(kernel: GatewayKernel) -> None:
    events = kernel.execute("import time\nprint('go', flush=True)\ntime.sleep(30)")
    assert next(events) == Output(stream="stdout", data="go\n")
    started = time.monotonic()
    events.close()  # e.g. the web client went away
    outputs, result = run(kernel, "21 * 2", timeout=10)
    assert time.monotonic() - started < 5
    assert (text(outputs, "result"), result.status) == ("42", "ok")


def test_code_that_ignores_sigint_gets_the_kernel_restarted(kernel: GatewayKernel) -> None:
    run(kernel, "lost = 1")
    code = "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True: pass"
    _, result = run(kernel, code, timeout=1.0)
    assert result.status == "timeout"
    assert "did not stop and was restarted: variables are gone" in result.message
    outputs, result = run(kernel, "import os\nprint(os.getcwd(), 'lost' in globals())")
    assert (text(outputs), result.status) == (f"{kernel.remote_cwd} False\n", "ok")


def test_a_dying_kernel_is_reported_and_restarted(kernel: GatewayKernel) -> None:
    _, result = run(kernel, "import os\nos._exit(3)", timeout=30)
    assert result.status == "crashed"
    assert result.message.startswith("the Python kernel died")
    assert result.message.endswith("was restarted: variables are gone")
    outputs, result = run(
        kernel, "import io, os, sys\nprint(os.getcwd(), flush=True)\nsys.stdout = io.StringIO()"
    )
    assert (text(outputs), result.status) == (f"{kernel.remote_cwd}\n", "ok")
    outputs, _ = run(kernel, "print('streams restored')")
    assert text(outputs) == "streams restored\n"


def test_files_round_trip(kernel: GatewayKernel) -> None:
    code = "import os\nos.makedirs('sub', exist_ok=True)\nopen('sub/made.txt', 'w').write('hi')"
    run(kernel, code + "\nos.makedirs('.hidden', exist_ok=True)\nopen('.hidden/x', 'w').close()")
    files = kernel.list_files()
    assert files["sub/made.txt"][1] == 2
    assert not any(name.startswith(".hidden") for name in files)
    assert kernel.fetch("sub/made.txt", 100) == b"hi"
    assert kernel.fetch("sub/made.txt", 1) is None
    assert kernel.fetch("sub/missing.txt", 100) is None
    assert kernel.fetch("../outside.txt", 100) is None
    assert kernel.fetch("/etc/hostname", 100) is None
    data = os.urandom(3 * 1024 * 1024 + 7)
    kernel.push("up/big.bin", data)
    code = "import hashlib\nprint(hashlib.sha256(open('up/big.bin', 'rb').read()).hexdigest())"
    outputs, _ = run(kernel, code)
    assert text(outputs).strip() == hashlib.sha256(data).hexdigest()
    assert kernel.fetch("up/big.bin", len(data)) == data
    with pytest.raises(KernelError):
        kernel.push("../escape.txt", b"x")


def test_shell_blocks_run_as_bash_cells(gateway: GatewayServer, workdir: Path) -> None:
    env = {"LOCI_REMOTE_CWD": "spaces/one", "GREETING": "hi"}
    with GatewayKernel(
        gateway.url, workdir, token=gateway.token, language="shell", env=env, grace=2.0
    ) as shell:
        assert shell.remote_cwd == os.path.realpath(gateway.root / "spaces/one")
        outputs, result = run(shell, 'echo "$GREETING from $(pwd)"\necho oops >&2')
        assert (text(outputs), text(outputs, "stderr")) == (
            f"hi from {shell.remote_cwd}\n",
            "oops\n",
        )
        assert result.status == "ok"
        outputs, result = run(shell, "echo bye; exit 3")
        assert (outputs, result) == (
            [Output("stdout", "bye\n")],
            KernelResult("error", exit_code=3),
        )


@pytest.mark.skipif(not have_bash_kernel(), reason="bash_kernel is not installed")
def test_shell_blocks_in_a_bash_kernelspec(gateway: GatewayServer, workdir: Path) -> None:
    env = {"LOCI_REMOTE_CWD": "spaces/two", "GREETING": "hi"}
    with GatewayKernel(
        gateway.url, workdir, token=gateway.token, kernel_name="bash", language="shell", env=env
    ) as shell:
        assert shell.remote_cwd == os.path.realpath(gateway.root / "spaces/two")
        assert text(run(shell, "cd sub 2>/dev/null || mkdir sub; X=5; echo $GREETING")[0]) == "hi\n"
        outputs, result = run(shell, "echo $X > x.txt; cat x.txt; ls /nonexistent 2>/dev/null")
        assert (text(outputs), result) == ("5\n", KernelResult("error", exit_code=2))
        assert shell.list_files()["x.txt"][1] == 2
        assert shell.fetch("x.txt", 10) == b"5\n"
        shell.push("up/data.bin", b"\x00\x01" * 1000)
        assert text(run(shell, "wc -c < up/data.bin")[0]).strip() == "2000"


def test_kernelspecs_and_shutdown(gateway: GatewayServer, workdir: Path) -> None:
    assert gateway_kernelspecs(gateway.url, gateway.token)["python3"] == "python"
    k = GatewayKernel(gateway.url, workdir, token=gateway.token)
    k.start()
    kernel_id, folder = k.kernel_id, k.remote_cwd
    assert kernel_id in gateway.kernel_ids()
    assert folder is not None and os.path.isdir(folder)
    k.shutdown()
    assert kernel_id not in gateway.kernel_ids()
    assert not os.path.exists(folder)  # the private temporary folder goes with the kernel
    k.shutdown()


def test_wrong_or_missing_token(gateway: GatewayServer, workdir: Path) -> None:
    for token in ("wrong", None):
        with pytest.raises(KernelError, match="token is wrong or missing; set LOCI_GATEWAY_TOKEN"):
            GatewayKernel(gateway.url, workdir, token=token).start()
        with pytest.raises(KernelError, match="token"):
            gateway_kernelspecs(gateway.url, token)


def test_unreachable_gateway(workdir: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(KernelError, match=f"cannot reach the Jupyter gateway at {url}"):
        GatewayKernel(url, workdir).start()
    with pytest.raises(KernelError, match=url):
        gateway_kernelspecs(url)


@pytest.mark.skipif(not have_gateway(), reason="jupyter_kernel_gateway is not installed")
def test_a_restarted_gateway_gets_a_new_kernel(tmp_path: Path, workdir: Path) -> None:
    gw = GatewayServer(tmp_path / "gw")  # a gateway of its own: it is stopped and started again
    with gw, GatewayKernel(gw.url, workdir, token=gw.token, grace=2.0) as k:
        run(k, "x = 1\nopen('kept.txt', 'w').write('on disk')")
        first = k.kernel_id
        gw.restart()  # between blocks
        events = list(k.execute("print(open('kept.txt').read(), 'x' in globals())"))
        notice, output, result = events
        assert isinstance(notice, Output) and notice.stream == "stderr"
        assert f"the Jupyter gateway at {gw.url} lost the Python kernel" in notice.data
        assert "variables are gone" in notice.data
        assert (output, result) == (Output("stdout", "on disk False\n"), KernelResult("ok"))
        assert k.kernel_id != first and k.kernel_id in gw.kernel_ids()
        restart = threading.Timer(1.0, gw.restart)  # during a block
        restart.start()
        _, result = run(k, "import time\ntime.sleep(30)", timeout=60)
        restart.join()
        assert result.status == "crashed"
        assert result.message.endswith(
            "lost the Python kernel and it was restarted: variables are gone"
        )
        assert run(k, "print('again')")[0] == [Output("stdout", "again\n")]


def test_scheme_blocks_keep_state_and_report_errors(scheme: GatewayKernel) -> None:
    outputs, result = run(scheme, "(+ 1 2)")
    assert (text(outputs, "result"), result) == ("3", KernelResult("ok"))
    assert run(scheme, "(define x 5)") == ([], KernelResult("ok"))
    outputs, result = run(scheme, '(display "hi")\n(newline)\nx')
    assert (text(outputs), text(outputs, "result"), result.status) == ("hi\n", "5", "ok")
    outputs, result = run(scheme, "(car 1)")  # metakernel: stderr, and the error in the reply
    assert (result.status, result.error_name, result.error_value) == (
        "error",
        "RunTimeError",
        "car called on non-pair 1",
    )
    assert "car called on non-pair 1" in text(outputs, "stderr")
    assert run(scheme, "(* x 2)")[0] == [Output("result", "10", mime="text/plain", text="10")]


def test_scheme_timeout_and_crash(scheme: GatewayKernel) -> None:
    run(scheme, "(define kept 1)")
    _, result = run(scheme, "(define (loop) (loop))\n(loop)", timeout=1.0)
    assert result.status == "timeout"
    interrupted = result.message == "timed out after 1s; interrupted"
    assert interrupted or result.message == (
        "timed out after 1s; the kernel did not stop and was restarted: variables are gone"
    )
    outputs, result = run(scheme, "(+ kept 1)" if interrupted else "(+ 1 1)")
    assert (text(outputs, "result"), result.status) == ("2", "ok")
    _, result = run(scheme, '(python-exec "import os; os._exit(3)")', timeout=30)
    assert result.status == "crashed"
    assert result.message.startswith("the Scheme kernel died")
    assert result.message.endswith("was restarted: variables are gone")
    assert text(run(scheme, "(+ 1 2)")[0], "result") == "3"


def test_scheme_kernel_has_no_files(scheme: GatewayKernel) -> None:
    assert scheme.remote_cwd is None
    assert scheme.list_files() == {}
    assert scheme.fetch("anything.txt", 100) is None
    with pytest.raises(KernelError, match="files cannot be copied to a Scheme kernel on the gate"):
        scheme.push("data.csv", b"1,2\n")


def test_gateway_languages(gateway: GatewayServer) -> None:
    languages = gateway_languages(gateway.url, gateway.token)
    assert languages["python"] == "python3"
    if have_bash_kernel():
        assert languages["bash"] == "bash"
    if have_scheme_kernel():
        assert languages["scheme"] == "calysto_scheme"
        assert gateway_kernelspecs(gateway.url, gateway.token)["calysto_scheme"] == "scheme"


def test_gateway_languages_prefer_the_default_spec(monkeypatch: pytest.MonkeyPatch) -> None:
    specs = {"py-a": "Python", "py-b": "python", "ir": "R", "odd": ""}
    body = {
        "default": "py-b",
        "kernelspecs": {name: {"spec": {"language": lang}} for name, lang in specs.items()},
    }
    monkeypatch.setattr(httpx, "request", lambda *a, **k: httpx.Response(200, json=body))
    assert gateway_languages("http://gateway") == {"python": "py-b", "r": "ir"}
