"""Kernels that are dropped, or still running at exit, leave no process behind."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from loci.errors import LociError
from loci.kernels import JupyterKernel, ShellKernel


def test_dropped_kernels_are_shut_down(tmp_path: Path, gone: Callable[[int], bool]) -> None:
    python, shell = JupyterKernel(tmp_path), ShellKernel(tmp_path)
    python.start()
    shell.start()
    pids = [python.pid, shell.pid]
    del python, shell
    gc.collect()
    assert all(pid is not None and gone(pid) for pid in pids)


def test_kernels_running_at_exit_are_shut_down(tmp_path: Path, gone: Callable[[int], bool]) -> None:
    script = textwrap.dedent(
        f"""
        from pathlib import Path
        from loci.kernels import JupyterKernel, ShellKernel
        kernels = [JupyterKernel(Path({str(tmp_path)!r})), ShellKernel(Path({str(tmp_path)!r}))]
        code = {{"python": "import subprocess; print(subprocess.Popen(['sleep', '300']).pid)",
                "shell": "sleep 300 & echo $!"}}
        pids = []
        for kernel in kernels:
            (out, _) = kernel.execute(code[kernel.language])
            pids += [kernel.pid, int(out.data)]
        print(*pids)
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, env=env
    )
    assert done.returncode == 0, done.stderr
    pids = [int(pid) for pid in done.stdout.split()]
    assert len(pids) == 4  # each kernel and a grandchild it started
    assert all(gone(pid) for pid in pids)


@pytest.mark.parametrize("after_s", [0.0, 0.05, 0.15, 0.3, 0.6])
def test_a_kernel_shut_down_while_it_starts_leaves_nothing(
    tmp_path: Path, after_s: float, left_behind: Callable[[Path], list[int]]
) -> None:
    # Session.close right after a prestart (a reply without code) cuts the start short at
    # whatever stage it has reached: importing, launching, or waiting for the kernel.
    import threading
    import time
    import warnings

    kernel = JupyterKernel(tmp_path)
    errors: list[BaseException] = []

    def start() -> None:
        try:
            kernel.start()
        except LociError as exc:
            errors.append(exc)

    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        thread = threading.Thread(target=start)
        thread.start()
        time.sleep(after_s)
        kernel.shutdown()
        thread.join(30)
        gc.collect()
    assert not thread.is_alive()
    assert left_behind(tmp_path) == []
    assert all("shut down while it started" in str(e) for e in errors)
