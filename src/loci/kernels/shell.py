"""A persistent bash: the working directory and variables survive from one block to the next.

``ShellKernel`` keeps one ``bash --noprofile --norc`` reading commands from a pipe, in its own
session (so its process group is every process the blocks start). Each block is written to a
file and run as

    trap 'return 130 2>/dev/null' INT; { source FILE ; } </dev/null
    printf MARKER:$? ; printf MARKER >&2

so ``cd`` and ``export`` persist, commands that read stdin get end-of-file at once, and the two
markers tell when stdout and stderr are drained and with which exit status. Output is streamed
as it arrives, partial lines included.

Interrupting sends SIGINT to the process group: the running command dies and the ``INT`` trap
makes bash leave the sourced block (bash itself survives). If the block does not end within
``grace`` seconds, the whole group is killed and bash restarted (cwd and variables are reset);
``exit N`` in a block ends bash, which is reported and restarted too. ``shutdown`` kills the
process group; so does a finalizer when the kernel object is dropped without it, or at exit.
With a ``sandbox`` (``loci.sandbox.Sandbox``) bash runs confined by it.
"""

from __future__ import annotations

import codecs
import contextlib
import os
import secrets
import selectors
import shlex
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Generator, Iterator
from pathlib import Path

from ..errors import KernelError
from ..events import ExecStatus, KernelEvent, KernelResult, Output, OutputStream
from ..sandbox import Sandbox
from ..sandbox.core import kernel_environ, launched

__all__ = ["ShellKernel"]

_POLL = 0.1
_RESET = "the working directory and variables are reset"


def _describe_exit(code: int) -> str:
    return f"killed by signal {-code}" if code < 0 else f"exit status {code}"


class _Channel:
    """One output pipe of bash: decodes it and finds the end marker of the current block."""

    def __init__(self, stream: OutputStream, marker: str) -> None:
        self.stream: OutputStream = stream
        self.marker = marker
        self.done = False
        self.eof = False
        self.status = ""  # what the marker line carries after the marker (the exit status)
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""

    def feed(self, data: bytes) -> str:
        """Take raw bytes (``b""`` at end of file); return the text that is surely output."""
        if not data:
            self.eof = True
        self._pending += self._decoder.decode(data, final=not data)
        if self.done:
            out, self._pending = self._pending, ""
            return out
        start = self._pending.find(self.marker)
        if start >= 0:
            end = self._pending.find("\n", start)
            if end < 0:
                out, self._pending = self._pending[:start], self._pending[start:]
                return out
            self.status = self._pending[start + len(self.marker) : end]
            self.done = True
            out = self._pending[:start] + self._pending[end + 1 :]
            self._pending = ""
            return out
        keep = _prefix_overlap(self._pending, self.marker) if not self.eof else 0
        cut = len(self._pending) - keep
        out, self._pending = self._pending[:cut], self._pending[cut:]
        return out


def _prefix_overlap(text: str, marker: str) -> int:
    """Length of the longest end of ``text`` that begins ``marker``."""
    for size in range(min(len(text), len(marker) - 1), 0, -1):
        if marker.startswith(text[-size:]):
            return size
    return 0


class _Resources:
    """bash and its files. ``release`` kills the process group and may be called repeatedly;
    a ``weakref.finalize`` calls it when the kernel object is dropped or at exit."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.tmpdir: Path | None = None

    def release(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait()
            for pipe in (proc.stdin, proc.stdout, proc.stderr):
                if pipe is not None:
                    with contextlib.suppress(OSError):
                        pipe.close()
        if self.tmpdir is not None:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            self.tmpdir = None


class ShellKernel:
    """Persistent bash for one conversation; see the module docstring.

    ``env`` holds variables added to this process's environment for the shell.
    """

    language = "shell"

    def __init__(
        self,
        workdir: Path,
        env: dict[str, str] | None = None,
        grace: float = 3.0,
        *,
        sandbox: Sandbox | None = None,
    ) -> None:
        self.sandbox = sandbox
        self._workdir = Path(workdir)
        self.env = dict(env or {})
        self.grace = grace
        self._lock = threading.RLock()
        self._exec_lock = threading.Lock()
        self._r = _Resources()
        # kills bash if this object is dropped or the interpreter exits first
        self._finalizer = weakref.finalize(self, self._r.release)

    @property
    def cwd(self) -> Path:
        return self._workdir

    @property
    def pid(self) -> int | None:
        """bash's process id, which is also the id of its process group."""
        return None if self._r.proc is None else self._r.proc.pid

    def __enter__(self) -> ShellKernel:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        with self._lock:
            if self._r.proc is None:
                self._spawn()

    def _spawn(self) -> None:
        bash = shutil.which("bash")
        if bash is None:
            raise KernelError("cannot start the shell: bash was not found on PATH")
        self._r.tmpdir = Path(tempfile.mkdtemp(prefix="loci-shell-"))
        argv = [bash, "--noprofile", "--norc"]
        env = kernel_environ(self.sandbox, os.environ)
        if self.sandbox is None:
            argv = launched(argv)
        else:
            argv = self.sandbox.command(argv, private=[self._r.tmpdir])
        try:
            self._r.proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=self._workdir,
                env={**env, **self.env},
                start_new_session=True,
            )
        except OSError as exc:
            shutil.rmtree(self._r.tmpdir, ignore_errors=True)
            self._r.tmpdir = None
            raise KernelError(f"cannot start the shell in {self._workdir}: {exc}") from exc

    def restart(self) -> None:
        with self._lock:
            self._r.release()
            self._spawn()

    def interrupt(self) -> None:
        self._signal(signal.SIGINT)

    def shutdown(self) -> None:
        with self._lock:
            self._r.release()

    def _signal(self, signum: int) -> None:
        proc = self._r.proc
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signum)

    # -- execution ---------------------------------------------------------------------------

    def execute(
        self, code: str, *, timeout: float | None = None, cancel: threading.Event | None = None
    ) -> Iterator[KernelEvent]:
        with self._exec_lock:
            self.start()
            if self._r.proc is None or self._r.proc.poll() is not None:
                code_ = -1 if self._r.proc is None else self._r.proc.returncode
                self.restart()
                note = f"[the shell had ended ({_describe_exit(code_)}) and was restarted]\n"
                yield Output(stream="stderr", data=note)
            channels = self._send(code)
            finished = False
            try:
                for event in self._run(channels, timeout, cancel):
                    finished = isinstance(event, KernelResult)
                    yield event
            finally:
                if not finished:  # the consumer walked away: stop the block, drop its output
                    with contextlib.suppress(KernelError):
                        for _ in self._stop(channels, "interrupted", "interrupted"):
                            pass

    def _send(self, code: str) -> tuple[_Channel, _Channel]:
        proc, tmpdir = self._r.proc, self._r.tmpdir
        assert proc is not None and proc.stdin is not None and tmpdir is not None
        token = secrets.token_hex(8)
        script = tmpdir / f"block-{token}.sh"
        script.write_text(code if code.endswith("\n") else code + "\n", encoding="utf-8")
        # The marker is assembled at run time so that `set -x` traces never contain it.
        head, tail = "__loci_end_", f"{token}__"
        command = (
            f"trap 'return 130 2>/dev/null' INT; {{ source {shlex.quote(str(script))} ; }}"
            f" </dev/null; printf '%s%s:%d\\n' {head} {tail} \"$?\";"
            f" printf '%s%s\\n' {head} {tail} >&2; rm -f {shlex.quote(str(script))}\n"
        )
        with contextlib.suppress(BrokenPipeError):
            proc.stdin.write(command.encode("utf-8"))
            proc.stdin.flush()
        marker = head + tail
        return _Channel("stdout", marker + ":"), _Channel("stderr", marker)

    def _run(
        self,
        channels: tuple[_Channel, _Channel],
        timeout: float | None,
        cancel: threading.Event | None,
    ) -> Iterator[KernelEvent]:
        deadline = None if timeout is None else time.monotonic() + timeout

        def should_stop() -> bool:
            if cancel is not None and cancel.is_set():
                return True
            return deadline is not None and time.monotonic() >= deadline

        end = yield from self._pump(channels, should_stop)
        if end == "done":
            status = _exit_status(channels[0].status)
            yield KernelResult(status="ok" if status == 0 else "error", exit_code=status)
        elif end == "exited":
            yield self._exited()
        else:
            timed_out = cancel is None or not cancel.is_set()
            reason = f"timed out after {timeout:g}s" if timed_out else "interrupted"
            yield from self._stop(channels, "timeout" if timed_out else "interrupted", reason)

    def _stop(
        self, channels: tuple[_Channel, _Channel], status: ExecStatus, reason: str
    ) -> Iterator[KernelEvent]:
        """SIGINT the running command; if the block does not end within ``grace``, restart."""
        self.interrupt()
        until = time.monotonic() + self.grace
        end = yield from self._pump(channels, lambda: time.monotonic() >= until)
        if end == "done":
            message = reason if reason == "interrupted" else f"{reason}; interrupted"
            code = _exit_status(channels[0].status)
            yield KernelResult(status=status, exit_code=code, message=message)
            return
        what = "the shell exited" if end == "exited" else "the shell did not stop"
        self.restart()
        yield KernelResult(status=status, message=f"{reason}; {what} and was restarted: {_RESET}")

    def _exited(self) -> KernelResult:
        assert self._r.proc is not None
        code = self._r.proc.wait()
        if code > 128 and self.sandbox is not None and self.sandbox.active:
            code = 128 - code  # bwrap reports a shell killed by signal N as 128 + N
        self.restart()
        message = f"the shell exited ({_describe_exit(code)}) and was restarted: {_RESET}"
        status: ExecStatus = "ok" if code == 0 else ("crashed" if code < 0 else "error")
        return KernelResult(status=status, exit_code=code, message=message)

    def _pump(
        self, channels: tuple[_Channel, _Channel], should_stop: Callable[[], bool]
    ) -> Generator[Output, None, str]:
        """Stream output until both markers arrive (``done``), bash ends (``exited``) or
        ``should_stop`` (``stopped``)."""
        proc = self._r.proc
        assert proc is not None and proc.stdout is not None and proc.stderr is not None
        with selectors.DefaultSelector() as selector:
            for pipe, channel in zip((proc.stdout, proc.stderr), channels, strict=True):
                if not channel.done and not channel.eof:
                    selector.register(pipe, selectors.EVENT_READ, channel)
            while not all(channel.done for channel in channels):
                if should_stop():
                    return "stopped"
                yield from _read_ready(selector, _POLL)
                if proc.poll() is not None or all(channel.eof for channel in channels):
                    # bash is gone: take what is left (a background job may hold the pipes)
                    while selector.get_map() and (chunk := list(_read_ready(selector, 0))):
                        yield from chunk
                    return "done" if all(channel.done for channel in channels) else "exited"
        return "done"


def _read_ready(selector: selectors.BaseSelector, timeout: float) -> Iterator[Output]:
    for key, _ in selector.select(timeout):
        channel: _Channel = key.data
        data = os.read(key.fd, 65536)
        text = channel.feed(data)
        if channel.eof or channel.done:
            selector.unregister(key.fileobj)
        if text:
            yield Output(stream=channel.stream, data=text)


def _exit_status(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        return -1
