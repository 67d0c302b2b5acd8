"""Kernels: persistent interpreters that run the model's code (see ``base.Kernel``).

``jupyter.JupyterKernel`` (Python through ipykernel), ``shell.ShellKernel`` (bash),
``fake.FakeKernel`` (scripted, for tests) and ``pool.KernelPool`` (one kernel per language for a
conversation). Importing this package starts nothing.
"""

from __future__ import annotations

from .base import Kernel as Kernel
from .fake import FakeKernel as FakeKernel
from .iopub import message_to_events as message_to_events
from .jupyter import JupyterKernel as JupyterKernel
from .jupyter import has_ipykernel as has_ipykernel
from .jupyter import ipykernel_install_command as ipykernel_install_command
from .pool import KernelFactory as KernelFactory
from .pool import KernelPool as KernelPool
from .pool import normalize_language as normalize_language
from .shell import ShellKernel as ShellKernel

__all__ = [
    "FakeKernel",
    "JupyterKernel",
    "Kernel",
    "KernelFactory",
    "KernelPool",
    "ShellKernel",
    "has_ipykernel",
    "ipykernel_install_command",
    "message_to_events",
    "normalize_language",
]
