"""A scripted kernel for tests and demos: it runs nothing and yields what it was told to.

    kernel = FakeKernel()
    kernel.enqueue(Output(stream="stdout", data="4\n"), KernelResult(status="ok"))
    list(kernel.execute("print(2 + 2)"))   # those two events
    list(kernel.execute("anything"))       # nothing queued: just KernelResult("ok")
    kernel.executed                        # ["print(2 + 2)", "anything"]
    kernel.holds = KernelState(...)        # what ``state()`` answers (None: it cannot say)

Each ``enqueue`` call scripts one execution. If a script has no ``KernelResult``, an ``ok``
result is added at its end, so ``execute`` always keeps the Kernel protocol's promise.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from pathlib import Path

from ..events import KernelEvent, KernelResult
from ..kernel_state import KernelState
from ..sandbox import Sandbox

__all__ = ["FakeKernel"]


class FakeKernel:
    """Implements the Kernel protocol without any process; counts lifecycle calls."""

    def __init__(self, language: str = "python", workdir: Path | None = None) -> None:
        self.language = language
        self.sandbox: Sandbox | None = None
        self.remote_cwd: str | None = None
        self._workdir = workdir or Path.cwd()
        self._scripts: deque[tuple[KernelEvent, ...]] = deque()
        self.executed: list[str] = []
        self.timeouts: list[float | None] = []
        self.started = False
        self.interrupts = 0
        self.restarts = 0
        self.shutdowns = 0
        self.holds: KernelState | None = None  # what ``state`` answers
        self.state_asked = 0
        self.answers: list[str | None] = []  # what ``answer`` was given, in order

    @property
    def cwd(self) -> Path:
        return self._workdir

    def enqueue(self, *events: KernelEvent) -> FakeKernel:
        """Script the next execution: it yields ``events`` (plus ``ok`` if none is a result)."""
        self._scripts.append(events)
        return self

    def start(self) -> None:
        self.started = True

    def execute(
        self, code: str, *, timeout: float | None = None, cancel: threading.Event | None = None
    ) -> Iterator[KernelEvent]:
        self.start()
        self.executed.append(code)
        self.timeouts.append(timeout)
        script = self._scripts.popleft() if self._scripts else ()
        for event in script:
            if cancel is not None and cancel.is_set():
                yield KernelResult(status="interrupted", message="interrupted")
                return
            yield event
        if not any(isinstance(event, KernelResult) for event in script):
            yield KernelResult(status="ok")

    def state(self, timeout: float = 0.5) -> KernelState | None:
        self.state_asked += 1
        return self.holds

    def answer(self, text: str | None) -> None:
        self.answers.append(text)

    def interrupt(self) -> None:
        self.interrupts += 1

    def restart(self) -> None:
        self.restarts += 1

    def shutdown(self) -> None:
        self.shutdowns += 1

    def __enter__(self) -> FakeKernel:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()
