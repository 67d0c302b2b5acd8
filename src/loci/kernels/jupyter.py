"""Python through Jupyter: jupyter_client drives an ipykernel process.

``JupyterKernel`` starts ``python -m ipykernel_launcher`` (any Python that has ipykernel) in the
workspace, sends each block as an ``execute_request`` and turns the iopub messages that answer
it into events with the pure ``iopub.message_to_events``; ``status: idle`` ends the block.

Every jupyter_client call runs on one private asyncio loop thread (``_LoopThread``), so the kernel
can be started from a background thread and used from another without jupyter_client creating
(and leaking) an event loop per calling thread.

What can go wrong, and what the caller sees:

    the block raises            KernelResult(status="error", error_name, error_value)
    timeout / cancel            SIGINT; idle within ``grace`` → "timeout" / "interrupted";
                                otherwise the kernel is restarted and the message says so
    the process dies            restarted; KernelResult(status="crashed", exit_code)
    the kernel cannot start     KernelError (bad Python, no ipykernel), translated once

``shutdown`` kills the kernel's whole process group and removes the connection file; so does a
finalizer when the kernel object is dropped without it, or at interpreter exit.

With a ``sandbox`` (``loci.sandbox.Sandbox``) the kernel command is wrapped by it: limits, and
bubblewrap when the OS can confine; the private socket folder is bound writable inside.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Coroutine, Generator, Iterator
from pathlib import Path
from typing import IO, Any, TypeVar

from ..errors import KernelError
from ..events import ExecStatus, KernelEvent, KernelResult, Output
from ..sandbox import Sandbox
from ..sandbox.core import kernel_environ
from .iopub import message_to_events

__all__ = ["JupyterKernel", "has_ipykernel", "ipykernel_install_command"]

T = TypeVar("T")
# loci's own housekeeping, sent as silent executions: keep the kernel's output streams at
# start, and put them back before every block (code that replaced sys.stdout would otherwise
# make every later block silent).
_STASH = "import sys as _loci_sys\n_loci_sys._loci_streams = (_loci_sys.stdout, _loci_sys.stderr)"
_RESTORE = (
    "import sys as _loci_sys\n"
    "if hasattr(_loci_sys, '_loci_streams'):\n"
    "    _loci_sys.stdout, _loci_sys.stderr = _loci_sys._loci_streams"
)
_POLL = 0.1  # seconds between checks of timeout, cancel and liveness
_GONE = "variables are gone"


def has_ipykernel(python: str) -> bool:
    """Whether ``python`` can import ipykernel (False if it cannot even be run)."""
    try:
        done = subprocess.run(
            [python, "-c", "import ipykernel"], capture_output=True, timeout=60, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def ipykernel_install_command(python: str) -> list[str]:
    """The command that installs ipykernel for ``python``."""
    return [python, "-m", "pip", "install", "ipykernel"]


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "exit code unknown"
    if code < 0:
        return f"killed by signal {-code}"
    return f"exit code {code}"


class _LoopThread:
    """An asyncio loop on a daemon thread; ``run`` executes a coroutine there and waits."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="loci-jupyter", daemon=True
        )
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        if self._loop.is_closed():
            coro.close()
            raise KernelError("the Python kernel has been shut down")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def close(self) -> None:
        if self._loop.is_closed():
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        if not self._thread.is_alive():
            self._loop.close()


def _spec_manager(argv: list[str]) -> Any:
    """A KernelSpecManager that knows one kernel: ipykernel run by the chosen Python."""
    from jupyter_client.kernelspec import KernelSpec, KernelSpecManager

    class _OneSpec(KernelSpecManager):
        def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
            return KernelSpec(
                argv=argv, display_name="Python (loci)", language="python", interrupt_mode="signal"
            )

    return _OneSpec()


@contextlib.contextmanager
def _start_errors(python: str, log: Path | None) -> Iterator[None]:
    """Translate whatever jupyter_client raises while starting a kernel into one KernelError."""
    import zmq

    try:
        yield
    except (OSError, RuntimeError, TimeoutError, zmq.ZMQError) as exc:
        raise KernelError(_start_failure(python, exc, log)) from exc


def _start_failure(python: str, exc: BaseException, log: Path | None) -> str:
    if shutil.which(python) is None:
        return f"cannot start the Python kernel: no Python interpreter at {python!r}"
    message = f"cannot start the Python kernel ({python}): {exc}"
    if not has_ipykernel(python):
        install = shlex.join(ipykernel_install_command(python))
        return f"{message}. ipykernel is not installed for that Python; install it with: {install}"
    if log is not None and log.exists():
        tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-5:]
        if tail:
            message += "\n" + "\n".join(tail)
    return message


class _Resources:
    """What a running kernel holds. ``release`` frees it all and may be called any number of
    times; a ``weakref.finalize`` calls it when the kernel object is dropped or at exit."""

    def __init__(self) -> None:
        self.loop: _LoopThread | None = None
        self.km: Any = None
        self.kc: Any = None
        self.tmpdir: Path | None = None
        self.log: IO[bytes] | None = None

    def release(self) -> None:
        """Kill the kernel's process group, close sockets, remove files."""
        loop, km, kc = self.loop, self.km, self.kc
        self.loop = self.km = self.kc = None
        if loop is not None:
            try:
                with contextlib.suppress(RuntimeError, OSError):
                    loop.run(_ashutdown(km, kc))
            finally:
                loop.close()
        if self.log is not None:
            self.log.close()
            self.log = None
        if self.tmpdir is not None:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            self.tmpdir = None


async def _ashutdown(km: Any, kc: Any) -> None:
    if kc is not None:
        kc.stop_channels()
    if km is None:
        return
    if km.has_kernel:
        await km.shutdown_kernel(now=True)
    else:
        km.cleanup_connection_file()
        if km._created_context:
            km.context.destroy(linger=0)


class JupyterKernel:
    """Persistent Python (ipykernel) for one conversation; see the module docstring.

    ``env`` holds variables added to this process's environment for the kernel; ``sandbox``
    confines it (``None``: run it as is).
    """

    language = "python"

    def __init__(
        self,
        workdir: Path,
        python: str | None = None,
        env: dict[str, str] | None = None,
        grace: float = 3.0,
        *,
        start_timeout: float = 60.0,
        sandbox: Sandbox | None = None,
    ) -> None:
        self.sandbox = sandbox
        self._workdir = Path(workdir)
        self.python = python or sys.executable
        self.env = dict(env or {})
        self.grace = grace
        self.start_timeout = start_timeout
        self._lock = threading.RLock()  # start / restart / shutdown
        self._exec_lock = threading.Lock()  # one execution at a time
        self._r = _Resources()
        # shuts the kernel down if this object is dropped or the interpreter exits first
        self._finalizer = weakref.finalize(self, self._r.release)

    @property
    def cwd(self) -> Path:
        return self._workdir

    @property
    def pid(self) -> int | None:
        """The kernel process id while it runs (its process group id too)."""
        provisioner = getattr(self._r.km, "provisioner", None)
        process = getattr(provisioner, "process", None)
        return None if process is None else int(process.pid)

    @property
    def connection_file(self) -> Path | None:
        """The kernel's connection file while it runs (removed by ``shutdown``)."""
        return None if self._r.tmpdir is None else self._r.tmpdir / "connection.json"

    def __enter__(self) -> JupyterKernel:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        with self._lock:
            if self._r.kc is None:
                self._start_locked()

    def _start_locked(self) -> None:
        self._r.release()
        self._r.tmpdir = Path(tempfile.mkdtemp(prefix="loci-ipykernel-"))
        self._r.log = (self._r.tmpdir / "kernel.log").open("ab")
        self._r.loop = _LoopThread()
        try:
            with _start_errors(self.python, self._r.tmpdir / "kernel.log"):
                self._r.loop.run(self._astart())
        except KernelError:
            self._r.release()
            raise

    def _kernel_env(self) -> dict[str, str]:
        env = kernel_environ(self.sandbox, os.environ)
        env["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
        env["PYTHONUNBUFFERED"] = "1"
        env.update(self.env)
        return env

    async def _astart(self) -> None:
        from jupyter_client.manager import AsyncKernelManager

        assert self._r.tmpdir is not None
        python = shutil.which(self.python) or self.python
        argv = [python, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
        if self.sandbox is not None:
            argv = self.sandbox.command(argv, private=[self._r.tmpdir])
        self._r.km = AsyncKernelManager(
            kernel_spec_manager=_spec_manager(argv),
            connection_file=str(self.connection_file),
            # Unix sockets in our private (0700) directory: no TCP port other users could read.
            transport="ipc",
            ip=str(self._r.tmpdir / "ipc"),
        )
        await self._r.km.start_kernel(
            cwd=str(self._workdir),
            env=self._kernel_env(),
            stdin=subprocess.DEVNULL,
            stdout=self._r.log,
            stderr=self._r.log,
        )
        await self._aconnect()

    async def _aconnect(self) -> None:
        kc = self._r.km.client()
        kc.start_channels()
        try:
            await kc.wait_for_ready(timeout=self.start_timeout)
        except BaseException:
            kc.stop_channels()
            raise
        kc.execute(_STASH, silent=True, store_history=False, allow_stdin=False)
        self._r.kc = kc

    def restart(self) -> None:
        with self._lock:
            if self._r.km is None:
                self._start_locked()
            else:
                self._restart_locked()

    def _restart_locked(self) -> None:
        log = None if self._r.tmpdir is None else self._r.tmpdir / "kernel.log"
        try:
            with _start_errors(self.python, log):
                self._call(self._arestart())
        except KernelError:
            self._r.release()
            raise

    async def _arestart(self) -> None:
        if self._r.kc is not None:
            self._r.kc.stop_channels()
            self._r.kc = None
        await self._r.km.restart_kernel(now=True)
        await self._aconnect()

    def interrupt(self) -> None:
        km, loop = self._r.km, self._r.loop
        if km is not None and loop is not None:
            with contextlib.suppress(RuntimeError, OSError, KernelError):
                loop.run(km.interrupt_kernel())

    def shutdown(self) -> None:
        with self._lock:
            self._r.release()

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        loop = self._r.loop
        if loop is None:
            coro.close()
            raise KernelError("the Python kernel is not running")
        return loop.run(coro)

    # -- execution ---------------------------------------------------------------------------

    def execute(
        self, code: str, *, timeout: float | None = None, cancel: threading.Event | None = None
    ) -> Iterator[KernelEvent]:
        with self._exec_lock:
            self.start()
            revived = self._revive_if_dead()
            if revived is not None:
                yield revived
            msg_id = self._call(self._asend(code))
            finished = False
            try:
                for event in self._run(msg_id, timeout, cancel):
                    finished = isinstance(event, KernelResult)
                    yield event
            finally:
                if not finished:  # the consumer walked away: do not leave the code running
                    with contextlib.suppress(KernelError):
                        for _ in self._stop(msg_id, [], "interrupted", "interrupted"):
                            pass

    async def _asend(self, code: str) -> str:
        kc = self._r.kc
        with contextlib.suppress(queue.Empty):
            while True:  # drop replies of earlier blocks
                await kc.get_shell_msg(timeout=0)
        kc.execute(_RESTORE, silent=True, store_history=False, allow_stdin=False)
        msg_id: str = kc.execute(code, allow_stdin=False, store_history=True)
        return msg_id

    def _run(
        self, msg_id: str, timeout: float | None, cancel: threading.Event | None
    ) -> Iterator[KernelEvent]:
        deadline = None if timeout is None else time.monotonic() + timeout
        errors: list[dict[str, Any]] = []

        def should_stop() -> bool:
            if cancel is not None and cancel.is_set():
                return True
            return deadline is not None and time.monotonic() >= deadline

        end = yield from self._pump(msg_id, errors, should_stop)
        if end == "idle":
            yield _finished(errors)
        elif end == "dead":
            yield self._crashed()
        else:
            timed_out = cancel is None or not cancel.is_set()
            status: ExecStatus = "timeout" if timed_out else "interrupted"
            reason = f"timed out after {timeout:g}s" if timed_out else "interrupted"
            yield from self._stop(msg_id, errors, status, reason)

    def _stop(
        self, msg_id: str, errors: list[dict[str, Any]], status: ExecStatus, reason: str
    ) -> Iterator[KernelEvent]:
        """Interrupt; if the kernel is not idle within ``grace`` seconds, restart it."""
        self.interrupt()
        until = time.monotonic() + self.grace
        end = yield from self._pump(msg_id, errors, lambda: time.monotonic() >= until)
        if end == "idle":
            message = reason if reason == "interrupted" else f"{reason}; interrupted"
            yield KernelResult(status=status, message=message)
            return
        if end == "dead":
            what = f"the kernel died ({_describe_exit(self._exit_code())})"
        else:
            what = "the kernel did not stop"
        with self._lock:
            self._restart_locked()
        yield KernelResult(status=status, message=f"{reason}; {what} and was restarted: {_GONE}")

    def _pump(
        self, msg_id: str, errors: list[dict[str, Any]], should_stop: Callable[[], bool]
    ) -> Generator[Output, None, str]:
        """Yield the block's outputs until ``idle`` / ``dead`` / ``stopped`` (returned)."""
        while not should_stop():
            msg = self._call(self._aget_iopub(_POLL))
            if msg is None:
                if not self._call(self._r.km.is_alive()):
                    yield from self._drain(msg_id, errors)
                    return "dead"
                continue
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            if msg.get("msg_type") == "status":
                if msg.get("content", {}).get("execution_state") == "idle":
                    return "idle"
                continue
            if msg.get("msg_type") == "error":
                errors.append(msg.get("content") or {})
            yield from message_to_events(msg)
        return "stopped"

    def _drain(self, msg_id: str, errors: list[dict[str, Any]]) -> Iterator[Output]:
        """What a dead kernel managed to send before it died."""
        while (msg := self._call(self._aget_iopub(0.05))) is not None:
            if msg.get("parent_header", {}).get("msg_id") == msg_id:
                if msg.get("msg_type") == "error":
                    errors.append(msg.get("content") or {})
                yield from message_to_events(msg)

    async def _aget_iopub(self, timeout: float) -> dict[str, Any] | None:
        try:
            msg: dict[str, Any] = await self._r.kc.get_iopub_msg(timeout=timeout)
        except queue.Empty:
            return None
        return msg

    def _exit_code(self) -> int | None:
        process = getattr(getattr(self._r.km, "provisioner", None), "process", None)
        code = None if process is None else process.poll()
        if code is not None and code > 128 and self.sandbox is not None and self.sandbox.active:
            return 128 - int(code)  # bwrap reports a kernel killed by signal N as 128 + N
        return None if code is None else int(code)

    def _crashed(self) -> KernelResult:
        code = self._exit_code()
        died = f"the Python kernel died ({_describe_exit(code)})"
        try:
            with self._lock:
                self._restart_locked()
        except KernelError as exc:
            message = f"{died} and could not be restarted: {exc}"
        else:
            message = f"{died} and was restarted: {_GONE}"
        return KernelResult(status="crashed", exit_code=code, message=message)

    def _revive_if_dead(self) -> Output | None:
        """Between blocks the kernel may have died (killed from outside): restart it."""
        if self._call(self._r.km.is_alive()):
            return None
        died = f"the Python kernel had died ({_describe_exit(self._exit_code())})"
        with self._lock:
            self._restart_locked()
        return Output(stream="stderr", data=f"[{died} and was restarted: {_GONE}]\n")


def _finished(errors: list[dict[str, Any]]) -> KernelResult:
    if not errors:
        return KernelResult(status="ok")
    last = errors[-1]
    return KernelResult(
        status="error",
        error_name=str(last.get("ename", "")),
        error_value=str(last.get("evalue", "")),
    )
