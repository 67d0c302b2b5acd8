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
import weakref
from collections.abc import Callable, Generator, Iterator
from pathlib import Path

from ..errors import KernelError
from ..events import ExecStatus, KernelResult, Output, OutputStream
from ..sandbox import Sandbox
from ..sandbox.core import kernel_environ, launched
from .runloop import GRACE, POLL, End, RunLoop, describe_exit, exit_code

__all__ = ["ShellKernel"]

_RESET = "the working directory and variables are reset"
_READ_SIZE = 65536  # bytes read from a pipe at a time
_TOKEN_BYTES = 8  # random bytes in each block's end marker


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


class ShellKernel(RunLoop[tuple[_Channel, _Channel]]):
    """Persistent bash for one conversation; see the module docstring.

    ``env`` holds variables added to this process's environment for the shell.
    """

    language = "shell"

    def __init__(
        self,
        workdir: Path,
        env: dict[str, str] | None = None,
        grace: float = GRACE,
        *,
        sandbox: Sandbox | None = None,
    ) -> None:
        super().__init__(workdir, grace, sandbox)
        self.env = dict(env or {})
        self._r = _Resources()
        # kills bash if this object is dropped or the interpreter exits first
        self._finalizer = weakref.finalize(self, self._r.release)

    @property
    def pid(self) -> int | None:
        """bash's process id, which is also the id of its process group."""
        return None if self._r.proc is None else self._r.proc.pid

    # -- lifecycle ---------------------------------------------------------------------------

    def _running(self) -> bool:
        return self._r.proc is not None

    def _start_locked(self) -> None:
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

    def _restart_locked(self) -> None:
        self._r.release()
        self._start_locked()

    def interrupt(self) -> None:
        proc = self._r.proc
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGINT)

    def shutdown(self) -> None:
        with self._lock:
            self._r.release()

    # -- execution (RunLoop's hooks) ---------------------------------------------------------

    def _revive(self) -> Output | None:
        """bash may have ended between blocks (``exit``, killed from outside): restart it."""
        if self._r.proc is not None and self._r.proc.poll() is None:
            return None
        code = -1 if self._r.proc is None else self._r.proc.returncode
        self.restart()
        note = f"[the shell had ended ({describe_exit(code, 'exit status')}) and was restarted]\n"
        return Output(stream="stderr", data=note)

    def _send(self, code: str) -> tuple[_Channel, _Channel]:
        proc, tmpdir = self._r.proc, self._r.tmpdir
        assert proc is not None and proc.stdin is not None and tmpdir is not None
        token = secrets.token_hex(_TOKEN_BYTES)
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

    def _pump(
        self, block: tuple[_Channel, _Channel], should_stop: Callable[[], bool]
    ) -> Generator[Output, None, End]:
        """Stream output until both markers arrive (``done``), bash ends (``dead``) or
        ``should_stop`` (``stopped``)."""
        proc = self._r.proc
        assert proc is not None and proc.stdout is not None and proc.stderr is not None
        with selectors.DefaultSelector() as selector:
            for pipe, channel in zip((proc.stdout, proc.stderr), block, strict=True):
                if not channel.done and not channel.eof:
                    selector.register(pipe, selectors.EVENT_READ, channel)
            while not all(channel.done for channel in block):
                if should_stop():
                    return "stopped"
                yield from _read_ready(selector, POLL)
                if proc.poll() is not None or all(channel.eof for channel in block):
                    # bash is gone: take what is left (a background job may hold the pipes)
                    while selector.get_map() and (chunk := list(_read_ready(selector, 0))):
                        yield from chunk
                    return "done" if all(channel.done for channel in block) else "dead"
        return "done"

    def _finished(self, block: tuple[_Channel, _Channel]) -> KernelResult:
        status = _exit_status(block[0].status)
        return KernelResult(status="ok" if status == 0 else "error", exit_code=status)

    def _stopped(
        self, block: tuple[_Channel, _Channel], status: ExecStatus, message: str
    ) -> KernelResult:
        return KernelResult(status=status, exit_code=_exit_status(block[0].status), message=message)

    def _crashed(self, end: End) -> KernelResult:
        """bash ended during the block (``exit N``, a signal): report how, and restart it."""
        assert self._r.proc is not None
        code = exit_code(self._r.proc.wait(), self.sandbox)
        self.restart()
        how = describe_exit(code, "exit status")
        message = f"the shell exited ({how}) and was restarted: {_RESET}"
        status: ExecStatus = "ok" if code == 0 else ("crashed" if code < 0 else "error")
        return KernelResult(status=status, exit_code=code, message=message)

    def _recover(self, end: End) -> str:
        what = "the shell exited" if end == "dead" else "the shell did not stop"
        self.restart()
        return f"{what} and was restarted: {_RESET}"


def _read_ready(selector: selectors.BaseSelector, timeout: float) -> Iterator[Output]:
    for key, _ in selector.select(timeout):
        channel: _Channel = key.data
        data = os.read(key.fd, _READ_SIZE)
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
