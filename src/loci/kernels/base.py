"""The Kernel protocol: one persistent interpreter for one language.

A kernel runs code and yields what it produces as it arrives: ``Output`` events, then exactly
one ``KernelResult`` last. ``execute`` never hangs on its own: it stops at ``timeout`` seconds
or when ``cancel`` is set (the session sets it on Ctrl-C or a Stop button), first by
interrupting the code, then — if the code will not stop within a grace period — by restarting
the interpreter, and says which in ``KernelResult.message``. A kernel that died is restarted
on the next ``execute`` and reports ``status="crashed"`` for the block that killed it.
Code that reads stdin either gets end-of-file at once, never a hang, or — where the kernel
can route the read (Python) — yields an ``InputRequest``; the caller answers it with
``answer`` (None: end-of-file) or, on timeout or Stop, lets ``execute`` interrupt the block.

``sandbox`` is what confines the interpreter (None: nothing loci set up, as on a gateway);
``remote_cwd`` is the folder the code runs in on another machine (None: it runs here, in ``cwd``).
``state`` is an optional look at what the interpreter holds (``loci.kernel_state``): None
where a kernel cannot tell (shell, gateway) or did not answer within ``timeout`` seconds.
``runloop.RunLoop`` implements the protocol's lifecycle and ``execute`` for the real kernels.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol, runtime_checkable

from ..events import KernelEvent
from ..kernel_state import KernelState
from ..sandbox import Sandbox


@runtime_checkable
class Kernel(Protocol):
    language: str
    sandbox: Sandbox | None
    remote_cwd: str | None

    def start(self) -> None:
        """Start the interpreter (idempotent). May be called from a background thread."""

    def execute(
        self, code: str, *, timeout: float | None = None, cancel: threading.Event | None = None
    ) -> Iterator[KernelEvent]:
        """Run ``code``; yield Output events as they come, then one KernelResult."""
        ...

    def state(self, timeout: float = ...) -> KernelState | None:
        """What the interpreter holds now, asked silently; None if it cannot say in time."""
        ...

    def answer(self, text: str | None) -> None:
        """Answer the running block's last ``InputRequest``: ``text`` typed, None end-of-file."""

    def interrupt(self) -> None:
        """Interrupt running code (SIGINT or the kernel's own mechanism)."""

    def restart(self) -> None:
        """Start a fresh interpreter: all state is lost."""

    def shutdown(self) -> None:
        """Stop the interpreter and every process it started. Idempotent."""

    @property
    def cwd(self) -> Path:
        """The directory code starts in (the workspace)."""
        ...
