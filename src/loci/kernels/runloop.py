"""The run loop every kernel shares: send a block, pump its output until it ends, and at the
deadline or on ``cancel`` interrupt it; if it has not ended within ``grace`` seconds, recover
the kernel (restart it) and say so in ``KernelResult.message``.

A kernel subclasses ``RunLoop`` and supplies what differs between interpreters:

    _running, _start_locked     whether an interpreter runs; start one (``_lock`` held)
    _restart_locked             replace it with a fresh one (``_lock`` held)
    _revive                     before a block: a notice if it died meanwhile (and restart it)
    _send                       start one block; a handle (``B``) on it
    _pump                       stream the block's outputs until it ends ("done"), the
                                interpreter dies ("dead") or is lost ("lost"), or ``should_stop``
    interrupt, shutdown         ask the running code to stop; end the interpreter for good
    answer                      (optional) answer a read the pump yielded as ``InputRequest``
    state                       (optional) what the interpreter holds; None by default
    _finished                   the result of a block that ended by itself
    _stopped                    (optional) the result of one that ended once interrupted
    _crashed                    (optional) the result when the interpreter died or was lost
    _recover                    bring the interpreter back after "dead", "lost" or "stopped"
                                (interrupted, yet not done within ``grace``); what happened

``exit_code`` and ``describe_exit`` read how an interpreter's process ended.
"""

from __future__ import annotations

import contextlib
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar

from ..errors import KernelError
from ..events import ExecStatus, InputRequest, KernelEvent, KernelResult, Output
from ..kernel_state import KernelState
from ..sandbox import Sandbox

__all__ = ["GRACE", "POLL", "STATE_TIMEOUT", "End", "RunLoop", "describe_exit", "exit_code"]

GRACE = 3.0  # seconds an interrupted block has to end before its kernel is restarted
STATE_TIMEOUT = 0.5  # seconds a look at the kernel's state may take before it is given up
POLL = 0.1  # seconds between checks of timeout, cancel and liveness
_SIGNALLED = 128  # bwrap exits with 128 + N when the process it runs is killed by signal N

End = Literal["done", "dead", "lost", "stopped"]  # how a pump ended
B = TypeVar("B")  # a kernel's handle on one running block
K = TypeVar("K", bound="RunLoop[Any]")


def exit_code(code: int, sandbox: Sandbox | None) -> int:
    """A process's exit code, negative for a signal: bwrap reports signal N as 128 + N."""
    if code > _SIGNALLED and sandbox is not None and sandbox.active:
        return _SIGNALLED - code
    return code


def describe_exit(code: int | None, status: str = "exit code") -> str:
    """``killed by signal N``, ``exit code N`` (``status`` names the number), or unknown."""
    if code is None:
        return f"{status} unknown"
    return f"killed by signal {-code}" if code < 0 else f"{status} {code}"


class RunLoop(ABC, Generic[B]):
    """The Kernel protocol's lifecycle and ``execute``, written once; see the module docstring.

    ``sandbox`` confines the interpreter (None: nothing does); ``remote_cwd`` is the folder the
    code runs in on another machine (None: it runs here, in ``cwd``).
    """

    language: str

    def __init__(self, workdir: Path, grace: float, sandbox: Sandbox | None = None) -> None:
        self.sandbox = sandbox
        self.remote_cwd: str | None = None
        self.grace = grace
        self._workdir = Path(workdir)
        self._lock = threading.RLock()  # start / restart / shutdown
        self._exec_lock = threading.Lock()  # one execution at a time

    @property
    def cwd(self) -> Path:
        return self._workdir

    def __enter__(self: K) -> K:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        with self._lock:
            if not self._running():
                self._start_locked()

    def restart(self) -> None:
        with self._lock:
            if self._running():
                self._restart_locked()
            else:
                self._start_locked()

    @abstractmethod
    def shutdown(self) -> None: ...

    def state(self, timeout: float = STATE_TIMEOUT) -> KernelState | None:
        """What the interpreter holds (see ``loci.kernel_state``); None: this kernel cannot say."""
        return None

    @abstractmethod
    def interrupt(self) -> None: ...

    def answer(self, text: str | None) -> None:
        """Answer the block's last ``InputRequest`` (None: end-of-file); a kernel that never
        yields one has nothing to answer."""

    @abstractmethod
    def _running(self) -> bool: ...

    @abstractmethod
    def _start_locked(self) -> None: ...

    @abstractmethod
    def _restart_locked(self) -> None: ...

    # -- execution ---------------------------------------------------------------------------

    def execute(
        self, code: str, *, timeout: float | None = None, cancel: threading.Event | None = None
    ) -> Iterator[KernelEvent]:
        with self._exec_lock:
            self.start()
            notice = self._revive()
            if notice is not None:
                yield notice
            block = self._send(code)
            finished = False
            try:
                for event in self._run(block, timeout, cancel):
                    finished = isinstance(event, KernelResult)
                    yield event
            finally:
                if not finished:  # the consumer walked away: do not leave the code running
                    with contextlib.suppress(KernelError):
                        for _ in self._stop(block, "interrupted", "interrupted"):
                            pass

    def _run(
        self, block: B, timeout: float | None, cancel: threading.Event | None
    ) -> Iterator[KernelEvent]:
        deadline = None if timeout is None else time.monotonic() + timeout

        def should_stop() -> bool:
            cancelled = cancel is not None and cancel.is_set()
            return cancelled or (deadline is not None and time.monotonic() >= deadline)

        end = yield from self._pump(block, should_stop)
        if end == "done":
            yield self._finished(block)
        elif end != "stopped":
            yield self._crashed(end)
        else:
            timed_out = cancel is None or not cancel.is_set()
            status: ExecStatus = "timeout" if timed_out else "interrupted"
            reason = f"timed out after {timeout:g}s" if timed_out else "interrupted"
            yield from self._stop(block, status, reason)

    def _stop(self, block: B, status: ExecStatus, reason: str) -> Iterator[KernelEvent]:
        """Interrupt; if the block has not ended within ``grace`` seconds, recover.

        An interrupt sent before the block began (``_begun``) may be lost: it stopped the
        silent block before it, or came while the kernel ignores SIGINT between blocks. If the
        block is still running ``POLL`` s after it began, it is interrupted once more."""
        self.interrupt()
        early = not self._begun(block)
        until = time.monotonic() + self.grace

        def missed() -> bool:
            begun = self._begun(block, POLL)
            return early and begun and time.monotonic() < until

        end = yield from self._pump(block, lambda: missed() or time.monotonic() >= until)
        if end == "stopped" and missed():
            self.interrupt()
            end = yield from self._pump(block, lambda: time.monotonic() >= until)
        if end == "done":
            message = reason if reason == "interrupted" else f"{reason}; interrupted"
            yield self._stopped(block, status, message)
        else:
            yield KernelResult(status=status, message=f"{reason}; {self._recover(end)}")

    @abstractmethod
    def _revive(self) -> Output | None: ...

    @abstractmethod
    def _send(self, code: str) -> B: ...

    @abstractmethod
    def _pump(
        self, block: B, should_stop: Callable[[], bool]
    ) -> Generator[Output | InputRequest, None, End]:
        """Yield the block's outputs until it is done, the interpreter is dead or lost, or
        ``should_stop()`` (stopped); which, returned."""

    @abstractmethod
    def _finished(self, block: B) -> KernelResult: ...

    def _begun(self, block: B, ago: float = 0.0) -> bool:
        """Whether the block was seen to begin running at least ``ago`` seconds ago; a kernel
        that cannot tell says yes."""
        return True

    def _stopped(self, block: B, status: ExecStatus, message: str) -> KernelResult:
        """The result of a block that ended once interrupted."""
        return KernelResult(status=status, message=message)

    def _crashed(self, end: End) -> KernelResult:
        """The result of a block whose interpreter died or was lost (``end``), once recovered."""
        return KernelResult(status="crashed", message=self._recover(end))

    @abstractmethod
    def _recover(self, end: End) -> str:
        """Bring the interpreter back after ``end`` (dead / lost / stopped); what happened."""
