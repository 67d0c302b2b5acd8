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
import concurrent.futures
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
from ..events import InputRequest, KernelResult, Output
from ..kernel_state import EXPRESSION, PROBE, KernelState, parse
from ..sandbox import Sandbox
from ..sandbox.core import kernel_environ
from . import stdin
from .iopub import Request, message_to_events
from .runloop import GRACE, POLL, STATE_TIMEOUT, End, RunLoop, describe_exit, exit_code

__all__ = [
    "GONE",
    "RESTORE",
    "START_TIMEOUT",
    "STASH",
    "JupyterKernel",
    "has_ipykernel",
    "ipykernel_install_command",
]

T = TypeVar("T")
# loci's own housekeeping, sent as silent executions: keep the kernel's output streams at
# start, and put them back before every block (code that replaced sys.stdout would otherwise
# make every later block silent).
STASH = "import sys as _loci_sys\n_loci_sys._loci_streams = (_loci_sys.stdout, _loci_sys.stderr)"
RESTORE = (
    "import sys as _loci_sys\n"
    "if hasattr(_loci_sys, '_loci_streams'):\n"
    "    _loci_sys.stdout, _loci_sys.stderr = _loci_sys._loci_streams"
)
GONE = "variables are gone"  # what a Python kernel's restart costs, in messages
START_TIMEOUT = 60.0  # seconds for a kernel to start and answer
_PROBE_TIMEOUT = 60.0  # seconds for ``python -c "import ipykernel"``
_CLOSE_TIMEOUT = 10.0  # seconds for the loop thread to stop
_DRAIN = 0.05  # seconds to wait for each last message of a kernel that died
_LOG_TAIL = 5  # lines of the kernel's log in a start failure


def has_ipykernel(python: str) -> bool:
    """Whether ``python`` can import ipykernel (False if it cannot even be run)."""
    try:
        done = subprocess.run(
            [python, "-c", "import ipykernel"],
            capture_output=True,
            timeout=_PROBE_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def ipykernel_install_command(python: str) -> list[str]:
    """The command that installs ipykernel for ``python``."""
    return [python, "-m", "pip", "install", "ipykernel"]


SHUT_DOWN_WHILE_STARTING = "the Python kernel was shut down while it started"


class _LoopThread:
    """An asyncio loop on a daemon thread; ``run`` executes a coroutine there and waits.
    ``cancel`` (from any thread) ends the coroutines being waited for with a KernelError."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="loci-jupyter", daemon=True
        )
        self._thread.start()
        self._waiting: set[concurrent.futures.Future[Any]] = set()
        self._cancelled = False

    def run(self, coro: Coroutine[Any, Any, T], *, cancellable: bool = True) -> T:
        if self._loop.is_closed() or (cancellable and self._cancelled):
            coro.close()
            raise KernelError("the Python kernel has been shut down")
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        if cancellable:
            self._waiting.add(future)
        try:
            return future.result()
        except concurrent.futures.CancelledError:
            raise KernelError(SHUT_DOWN_WHILE_STARTING) from None
        finally:
            self._waiting.discard(future)

    def cancel(self) -> None:
        """End what ``run`` waits for now, and refuse what it is given later (but for the
        shutdown itself, run with ``cancellable=False``)."""
        self._cancelled = True
        for future in list(self._waiting):
            future.cancel()

    def close(self) -> None:
        if self._loop.is_closed():
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=_CLOSE_TIMEOUT)
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
        tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-_LOG_TAIL:]
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
                    loop.run(_ashutdown(km, kc), cancellable=False)
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


class JupyterKernel(RunLoop[Request]):
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
        grace: float = GRACE,
        *,
        start_timeout: float = START_TIMEOUT,
        sandbox: Sandbox | None = None,
    ) -> None:
        super().__init__(workdir, grace, sandbox)
        self.python = python or sys.executable
        self.env = dict(env or {})
        self.start_timeout = start_timeout
        self._r = _Resources()
        self._closing = False  # a shutdown is under way: a start that waited for it gives up
        # shuts the kernel down if this object is dropped or the interpreter exits first
        self._finalizer = weakref.finalize(self, self._r.release)

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

    # -- lifecycle ---------------------------------------------------------------------------

    def _running(self) -> bool:
        return self._r.kc is not None

    def _start_locked(self) -> None:
        self._r.release()
        if self._closing:  # shut down while this start waited for the lock: do not start
            raise KernelError(SHUT_DOWN_WHILE_STARTING)
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

        if self._closing:  # shut down while jupyter_client was imported: launch nothing
            raise KernelError(SHUT_DOWN_WHILE_STARTING)
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
        if self._closing:  # launched but not yet waited for: release() kills it
            raise KernelError(SHUT_DOWN_WHILE_STARTING)
        await self._aconnect()

    async def _aconnect(self) -> None:
        kc = self._r.km.client()
        kc.start_channels()
        try:
            await kc.wait_for_ready(timeout=self.start_timeout)
        except BaseException:
            kc.stop_channels()
            raise
        kc.execute(STASH, silent=True, store_history=False, allow_stdin=False)
        self._r.kc = kc

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
        """End the kernel. A start still in progress (``prestart``) is cut short rather than
        waited for, so a request answered without code ends at once."""
        self._closing = True
        loop, km = self._r.loop, self._r.km
        if loop is not None and self._r.kc is None and km is not None and km.has_kernel:
            # launched, and waiting for it to answer: stop waiting. Not earlier: a launch cut
            # short can leave a process that nothing knows of (a start not yet launched sees
            # ``_closing`` itself, after the launch)
            loop.cancel()
        with self._lock:
            self._r.release()
            self._closing = False

    def state(self, timeout: float = STATE_TIMEOUT) -> KernelState | None:
        """What the kernel holds, asked with one silent execution (``kernel_state.PROBE``,
        its answer in ``user_expressions``); None if it is busy or silent for ``timeout`` s."""
        if not self._exec_lock.acquire(timeout=timeout):
            return None
        try:
            return self._call(self._astate(timeout)) if self._r.kc is not None else None
        except KernelError:
            return None
        finally:
            self._exec_lock.release()

    async def _astate(self, timeout: float) -> KernelState | None:
        kc, until = self._r.kc, time.monotonic() + timeout
        asked = {"state": EXPRESSION}
        msg_id = kc.execute(
            PROBE, silent=True, store_history=False, allow_stdin=False, user_expressions=asked
        )
        while (left := until - time.monotonic()) > 0:
            try:
                reply = await kc.get_shell_msg(timeout=left)
            except queue.Empty:
                break
            if reply.get("parent_header", {}).get("msg_id") == msg_id:
                return parse(reply.get("content", {}).get("user_expressions", {}).get("state"))
        return None  # a late answer is dropped with the shell's other stale replies

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        loop = self._r.loop
        if loop is None:
            coro.close()
            raise KernelError("the Python kernel is not running")
        return loop.run(coro)

    # -- execution (RunLoop's hooks) ---------------------------------------------------------

    def _revive(self) -> Output | None:
        """Between blocks the kernel may have died (killed from outside): restart it."""
        if self._call(self._r.km.is_alive()):
            return None
        died = f"the Python kernel had died ({describe_exit(self._exit_code())})"
        with self._lock:
            self._restart_locked()
        return Output(stream="stderr", data=f"[{died} and was restarted: {GONE}]\n")

    def _send(self, code: str) -> Request:
        return Request(self._call(self._asend(code)))

    async def _asend(self, code: str) -> str:
        kc = self._r.kc
        with contextlib.suppress(queue.Empty):
            while True:  # drop replies of earlier blocks
                await kc.get_shell_msg(timeout=0)
        await stdin.drain(kc)
        kc.execute(RESTORE, silent=True, store_history=False, allow_stdin=False)
        msg_id: str = kc.execute(code, allow_stdin=True, store_history=True)
        return msg_id

    def _pump(
        self, block: Request, should_stop: Callable[[], bool]
    ) -> Generator[Output | InputRequest, None, End]:
        """Yield the block's outputs and reads until ``idle`` (done), ``dead`` or ``stopped``."""
        while not should_stop():
            msg = self._call(self._aget_iopub(POLL))
            if msg is None:  # quiet: what it printed before a read has come already
                if (read := self._call(stdin.next_request(self._r.kc, block.msg_id))) is not None:
                    yield read
                elif not self._call(self._r.km.is_alive()):
                    yield from self._drain(block)
                    return "dead"
                continue
            if msg.get("parent_header", {}).get("msg_id") != block.msg_id:
                continue
            block.see(msg)
            if msg.get("msg_type") == "status":
                if msg.get("content", {}).get("execution_state") == "idle":
                    return "done"
                continue
            if msg.get("msg_type") == "error":
                block.errors.append(msg.get("content") or {})
            yield from message_to_events(msg)
        return "stopped"

    def answer(self, text: str | None) -> None:
        """Answer the block's read (``kernels.stdin``); None: end-of-file."""
        self._call(stdin.reply(self._r.kc, text))

    def _drain(self, block: Request) -> Iterator[Output]:
        """What a dead kernel managed to send before it died."""
        while (msg := self._call(self._aget_iopub(_DRAIN))) is not None:
            if msg.get("parent_header", {}).get("msg_id") == block.msg_id:
                if msg.get("msg_type") == "error":
                    block.errors.append(msg.get("content") or {})
                yield from message_to_events(msg)

    async def _aget_iopub(self, timeout: float) -> dict[str, Any] | None:
        try:
            msg: dict[str, Any] = await self._r.kc.get_iopub_msg(timeout=timeout)
        except queue.Empty:
            return None
        return msg

    def _finished(self, block: Request) -> KernelResult:
        return block.result()

    def _begun(self, block: Request, ago: float = 0.0) -> bool:
        return block.begun(ago)

    def _crashed(self, end: End) -> KernelResult:
        code = self._exit_code()
        died = f"the Python kernel died ({describe_exit(code)})"
        try:
            with self._lock:
                self._restart_locked()
        except KernelError as exc:
            message = f"{died} and could not be restarted: {exc}"
        else:
            message = f"{died} and was restarted: {GONE}"
        return KernelResult(status="crashed", exit_code=code, message=message)

    def _recover(self, end: End) -> str:
        if end == "dead":
            what = f"the kernel died ({describe_exit(self._exit_code())})"
        else:
            what = "the kernel did not stop"
        with self._lock:
            self._restart_locked()
        return f"{what} and was restarted: {GONE}"

    def _exit_code(self) -> int | None:
        process = getattr(getattr(self._r.km, "provisioner", None), "process", None)
        code = None if process is None else process.poll()
        return None if code is None else exit_code(int(code), self.sandbox)
