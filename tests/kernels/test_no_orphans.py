"""Kernels that are dropped, or still running at exit, leave no process behind."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

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
