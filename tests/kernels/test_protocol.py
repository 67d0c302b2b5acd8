"""Every kernel keeps the Kernel protocol, ``sandbox`` and ``remote_cwd`` included."""

from __future__ import annotations

from pathlib import Path

from loci.kernels import FakeKernel, JupyterKernel, Kernel, ShellKernel
from loci.kernels.gateway import GatewayKernel


def test_every_kernel_says_where_it_runs(tmp_path: Path) -> None:
    """Callers read ``sandbox`` and ``remote_cwd`` of any kernel, without a getattr."""
    kernels: list[Kernel] = [
        FakeKernel(),
        JupyterKernel(tmp_path),
        ShellKernel(tmp_path),
        GatewayKernel("http://127.0.0.1:9", tmp_path),  # not started: nothing is asked
    ]
    for kernel in kernels:
        assert isinstance(kernel, Kernel)
        assert (kernel.sandbox, kernel.remote_cwd) == (None, None)
