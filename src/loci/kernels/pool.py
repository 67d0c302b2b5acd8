"""The kernels of one conversation: at most one per language, created when first needed.

    with KernelPool(workdir) as pool:
        pool.prestart("python")                 # warm up while the model is still answering
        kernel = pool.get(normalize_language("py"))
        ...
    # every kernel is shut down here (and by shutdown_all, which may be called again)

``normalize_language`` maps a code fence's tag to a kernel language, or ``None`` when loci
cannot run it. ``factory(language)`` builds a kernel; tests pass one returning FakeKernels.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from pathlib import Path

from ..errors import KernelError, LociError
from .base import Kernel
from .jupyter import JupyterKernel
from .shell import ShellKernel

__all__ = ["LANGUAGES", "KernelFactory", "KernelPool", "normalize_language"]

KernelFactory = Callable[[str], Kernel]

_ALIASES = {
    "python": "python",
    "py": "python",
    "python3": "python",
    "ipython": "python",
    "": "python",
    "bash": "shell",
    "sh": "shell",
    "shell": "shell",
    "zsh": "shell",
    "console": "shell",
    "terminal": "shell",
}
LANGUAGES = ("python", "shell")


def normalize_language(tag: str | None) -> str | None:
    """The kernel language for a fence tag (``"py"`` → ``"python"``), ``None`` if unsupported."""
    words = (tag or "").strip().lower().split()
    return _ALIASES.get(words[0] if words else "")


class KernelPool:
    """Lazily created kernels, one per language; a context manager that shuts them down."""

    def __init__(
        self,
        workdir: Path,
        python: str | None = None,
        env: dict[str, str] | None = None,
        factory: KernelFactory | None = None,
    ) -> None:
        self.workdir = Path(workdir)
        self.python = python
        self.env = dict(env) if env else None
        self._factory = factory or self._default_factory
        self._kernels: dict[str, Kernel] = {}
        self._lock = threading.Lock()

    def _default_factory(self, language: str) -> Kernel:
        if language == "python":
            return JupyterKernel(self.workdir, python=self.python, env=self.env)
        return ShellKernel(self.workdir, env=self.env)

    def __enter__(self) -> KernelPool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown_all()

    def _kernel(self, language: str) -> Kernel:
        """The kernel for ``language`` (a fence tag or a language), created but not started."""
        name = normalize_language(language)
        if name is None:
            raise KernelError(f"loci cannot run {language!r} code (supported: python, shell)")
        with self._lock:
            kernel = self._kernels.get(name)
            if kernel is None:
                kernel = self._kernels[name] = self._factory(name)
            return kernel

    def get(self, language: str) -> Kernel:
        """The started kernel for ``language``; raises KernelError if it cannot start."""
        kernel = self._kernel(language)
        kernel.start()
        return kernel

    def prestart(self, language: str) -> threading.Thread:
        """Start the kernel for ``language`` in a background thread (errors wait for ``get``)."""
        kernel = self._kernel(language)

        def start() -> None:
            with contextlib.suppress(LociError):
                kernel.start()

        thread = threading.Thread(target=start, name=f"loci-start-{kernel.language}", daemon=True)
        thread.start()
        return thread

    def started(self) -> list[str]:
        """The languages that have a kernel in this pool."""
        with self._lock:
            return list(self._kernels)

    def interrupt_all(self) -> None:
        with self._lock:
            kernels = list(self._kernels.values())
        for kernel in kernels:
            kernel.interrupt()

    def restart(self, language: str) -> None:
        """Restart the kernel for ``language`` if there is one (its state is lost)."""
        name = normalize_language(language)
        with self._lock:
            kernel = self._kernels.get(name) if name else None
        if kernel is not None:
            kernel.restart()

    def shutdown_all(self) -> None:
        """Shut every kernel down. Idempotent; a later ``get`` creates fresh kernels."""
        with self._lock:
            kernels = list(self._kernels.values())
            self._kernels.clear()
        for kernel in kernels:
            with contextlib.suppress(LociError, OSError):  # one failure must not leak the rest
                kernel.shutdown()
