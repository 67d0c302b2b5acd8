"""Kernels on a Jupyter Kernel Gateway (or Enterprise Gateway): REST to manage, WebSocket to run.

``GatewayKernel`` asks the gateway for a kernel (``POST /api/kernels``), talks to it over
``/api/kernels/{id}/channels`` (JSON messages with a ``channel`` field) and turns the iopub
messages that answer a block into events with ``iopub.message_to_events``, like ``JupyterKernel``:
``status: idle`` ends the block. ``Authorization: token …`` goes with every request.

The code runs on the gateway's machine in a folder of its own (``remote_cwd``: a fresh ``loci-``
temporary folder, removed by ``shutdown``, or ``env["LOCI_REMOTE_CWD"]``, created if missing);
``cwd`` is the local workspace, where fetched files go. Files move through the kernel itself
(``list_files``, ``fetch``, ``push``: base64 over the channels). ``env`` goes with the start
request (the gateway keeps what it allows, e.g. ``KERNEL_*``) and is set in the kernel too.

    the block raises            KernelResult(status="error", error_name, error_value)
    timeout / cancel            REST interrupt; idle within ``grace`` → "timeout" / "interrupted";
                                otherwise REST restart, and the message says so
    the kernel process dies     the gateway restarts it (iopub status "restarting" / "dead"):
                                "crashed", or a notice before the next block
    the gateway loses it        (socket dropped, kernel id gone: the gateway restarted) a new
                                kernel on the same URL: "crashed", or a notice before the next block
    no gateway, wrong token     KernelError, one line naming the URL (or the token)
    no ``websockets``           KernelError: install the ``gateway`` extra (``loci[gateway]``)

``language="shell"`` uses a bash kernelspec (``kernel_name``) as is; otherwise each block runs
in a Python kernel as a ``%%bash`` cell: output streams, a failing command is an exit status,
but shell state (``cd``, variables) does NOT persist between blocks. With a bash kernelspec file
transfers run ``python3`` on the gateway's machine. A kernelspec of another ``language`` (R,
Julia, Scheme …: ``GET /api/kernelspecs``) is "plain": loci runs only the blocks there, so
there is no ``remote_cwd``, no files (``push`` raises). A finalizer deletes a forgotten kernel.

The REST calls, the channels socket, the messages and the scripts that move files are in
``gateway_wire``; this module decides what to do with them.
"""

from __future__ import annotations

import base64
import contextlib
import json
import shlex
import threading
import time
import weakref
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

from ..errors import KernelError
from ..events import ExecStatus, KernelEvent, KernelResult, Output
from .gateway_wire import (
    _CHUNK,
    _CHUNK_BASH,
    _LIST,
    _READ,
    _REMOVE,
    _SETUP,
    _WRITE,
    _Died,
    _execute,
    _housekeeping_answer,
    _housekeeping_code,
    _is_death,
    _Lost,
    _parent,
    _Refused,
    _relative,
    _Resources,
    _Rest,
    _shell_exit,
    gateway_kernelspecs,
    gateway_languages,
)
from .iopub import message_to_events
from .jupyter import _GONE, _POLL, _RESTORE, _STASH, _describe_exit, _finished

__all__ = ["GatewayKernel", "gateway_kernelspecs", "gateway_languages"]

_CHECK = 3.0  # seconds between checks, during a block, that the gateway still has the kernel
_RETRY = 10.0  # seconds per attempt to reach a kernel that the gateway restarted by itself
_REACH = 15.0  # seconds to wait for a gateway that dropped the connection to answer again
_CALL = 60.0  # seconds for loci's own housekeeping code in the kernel
_LATE = 1.0  # seconds to wait, after idle, for a block's execute reply (it has its own channel)


class GatewayKernel:
    """A kernel on a Jupyter Kernel Gateway / Enterprise Gateway; see the module docstring."""

    def __init__(
        self,
        url: str,
        workdir: Path,
        *,
        token: str | None = None,
        kernel_name: str | None = None,
        language: str = "python",
        grace: float = 3.0,
        start_timeout: float = 60.0,
        env: dict[str, str] | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self._workdir = Path(workdir)
        self.kernel_name = kernel_name
        self.language = language
        self.grace = grace
        self.start_timeout = start_timeout
        self.env = dict(env or {})
        self.remote_cwd: str | None = None
        self._kind = ""  # the kernelspec's language, lowercased: "python", "bash", "scheme" …
        self._bash = False  # the kernelspec itself is bash (else Python, maybe ``%%bash`` cells)
        self._plain = False  # neither Python nor bash: loci runs no code of its own there
        self._died = False  # the gateway said the kernel died while no block was running
        self._own_folder = False  # remote_cwd is a temporary folder loci made (shutdown removes it)
        self._lock = threading.RLock()  # start / restart / shutdown
        self._exec_lock = threading.Lock()  # one user of the channels at a time
        self._r = _Resources(_Rest(self.url, token))
        self._finalizer = weakref.finalize(self, self._r.release)

    @property
    def cwd(self) -> Path:
        return self._workdir

    @property
    def kernel_id(self) -> str | None:
        """The gateway's id of the kernel while it runs."""
        return self._r.kernel_id

    def __enter__(self) -> GatewayKernel:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        with self._lock:
            if self._r.kernel_id is None:
                self._start_locked()

    def _start_locked(self) -> None:
        """A new kernel on the gateway (any previous one is deleted), connected and set up."""
        self._r.release()
        self._kind = self._kind or self._r.language(self.kernel_name)
        self._r.create(self.env, self.kernel_name, self.start_timeout)
        try:
            self._connect_locked()
        except KernelError:
            self._r.release()
            raise

    def _connect_locked(self, setup: bool = True, timeout: float | None = None) -> None:
        """Open the channels socket; with ``setup``, wait for the kernel and prepare it: its
        folder, ``env`` and stream stash (each step within ``timeout`` seconds)."""
        timeout = self.start_timeout if timeout is None else timeout
        self._r.connect(timeout)
        if not setup:
            return
        self._died = False
        info = self._request("kernel_info_request", {}, timeout).get("language_info") or {}
        self._kind = self._kind or str(info.get("name", "")).lower()  # if the spec did not say
        self._bash = self._kind == "bash"
        self._plain = self._kind not in ("", "bash") and not self._kind.startswith("python")
        if self._plain:  # no folder (remote_cwd stays None), no env, no stash: only the blocks
            return
        folder = self.remote_cwd or self.env.get("LOCI_REMOTE_CWD", "")
        self.remote_cwd = self._housekeeping(_SETUP.format(env=self.env, folder=folder), timeout)
        self._own_folder = self._own_folder or not folder  # a temporary folder loci made
        if self._bash:  # python3 set nothing in bash itself
            exports = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in self.env.items())
            self._private(f"{exports}cd {shlex.quote(self.remote_cwd)}", timeout)
        else:
            self._private(_STASH, timeout)

    def restart(self) -> None:
        with self._lock:
            if self._r.kernel_id is None:
                self._start_locked()
            else:
                self._restart_locked()

    def _restart_locked(self) -> None:
        """REST restart (a new kernel if the gateway no longer knows this one)."""
        self._r.close_socket()
        if not self._r.restart(self.start_timeout):
            self._start_locked()
        elif not self._reconnect_locked():
            raise KernelError(
                f"the kernel on the Jupyter gateway at {self.url} did not answer after a restart"
            )

    def _after_death_locked(self) -> None:
        """The gateway restarts a dead kernel by itself: reach the new one, else restart it
        (also when the gateway gave up on it after too many deaths)."""
        if not self._reconnect_locked(gone=lambda: not self._r.exists()):
            self._restart_locked()

    def _reconnect_locked(self, gone: Callable[[], bool] = lambda: False) -> bool:
        """Connect again until the kernel answers (True), ``start_timeout`` passes or
        ``gone()`` (False). A socket opened while the gateway is still switching a restarted
        kernel over may reach the old one, which never answers: hence ``_RETRY`` per try."""
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            self._r.close_socket()
            time.sleep(0.5)  # let the gateway begin the restart
            try:
                self._connect_locked(timeout=_RETRY)
                return True
            except _Refused:
                raise
            except KernelError:
                if gone():
                    return False
        return False

    def interrupt(self) -> None:
        self._r.interrupt()

    def shutdown(self) -> None:
        with self._lock:
            own = self.remote_cwd if self._own_folder else None
            if own and self._r.socket is not None and self._exec_lock.acquire(blocking=False):
                try:  # the private temporary folder goes with the kernel
                    self._housekeeping(_REMOVE.format(root=own), 5.0)
                    self.remote_cwd, self._own_folder = None, False
                except KernelError:
                    pass
                finally:
                    self._exec_lock.release()
            self._r.release()

    @property
    def _label(self) -> str:  # the kernel's language in messages: "Python", "bash", "Scheme" …
        return self._kind.capitalize() if self._plain else "bash" if self._bash else "Python"

    # -- messages ----------------------------------------------------------------------------

    def _request(self, msg_type: str, content: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Send a shell request; its reply's content (execute: once idle, with ``stdout``)."""
        try:
            return self._r.request(msg_type, content, timeout)
        except _Died:
            self._died = True
            raise

    def _private(self, code: str, timeout: float) -> dict[str, Any]:
        """Run loci's own code in the kernel and wait for it; its reply."""
        content = _execute(code, private=True, bash=self._bash)
        reply = self._request("execute_request", content, timeout)
        if reply.get("status") != "ok":
            what = f"{reply.get('ename', '')}: {reply.get('evalue', '')}"
            raise KernelError(f"loci's housekeeping code failed in the kernel ({what})")
        return reply

    def _housekeeping(self, script: str, timeout: float = _CALL) -> str:
        """Run a housekeeping script (in a namespace of its own, or in python3 next to a bash
        kernel); what it left in ``sys._loci_out``."""
        code = _housekeeping_code(script, bash=self._bash)
        return _housekeeping_answer(self._private(code, timeout), bash=self._bash)

    # -- execution ---------------------------------------------------------------------------

    def execute(
        self, code: str, *, timeout: float | None = None, cancel: threading.Event | None = None
    ) -> Iterator[KernelEvent]:
        with self._exec_lock:
            self.start()
            notice = self._revive_if_gone()
            if notice is not None:
                yield notice
            python = not self._bash and not self._plain
            try:
                if python:
                    self._r.send("execute_request", _execute(_RESTORE, private=True, bash=False))
                cell = "%%bash\n" + code if self.language == "shell" and python else code
                content = _execute(cell, private=False, bash=self._bash)
                msg_id = self._r.send("execute_request", content)
            except _Lost:
                yield KernelResult(status="crashed", message=self._recover("lost"))
                return
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

    def _run(
        self, msg_id: str, timeout: float | None, cancel: threading.Event | None
    ) -> Iterator[KernelEvent]:
        deadline = None if timeout is None else time.monotonic() + timeout
        errors: list[dict[str, Any]] = []

        def should_stop() -> bool:
            cancelled = cancel is not None and cancel.is_set()
            return cancelled or (deadline is not None and time.monotonic() >= deadline)

        end = yield from self._pump(msg_id, errors, should_stop)
        if end == "idle":
            code = _shell_exit(errors[-1]) if errors and self.language == "shell" else None
            yield _finished(errors) if code is None else KernelResult("error", exit_code=code)
        elif end in ("dead", "lost"):
            yield KernelResult(status="crashed", message=self._recover(end))
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
        else:
            yield KernelResult(status=status, message=f"{reason}; {self._recover(end)}")

    def _pump(
        self, msg_id: str, errors: list[dict[str, Any]], should_stop: Callable[[], bool]
    ) -> Generator[Output, None, str]:
        """Yield the block's outputs until ``idle`` / ``dead`` / ``lost`` / ``stopped``. Idle waits
        ``_LATE`` seconds for the execute reply: some kernels (metakernel's) report errors there
        only, and it comes on another channel than idle."""
        check_at = time.monotonic() + _CHECK
        replied, idle_at = False, 0.0
        while True:
            stop = should_stop()
            if idle_at and (replied or stop or time.monotonic() > idle_at + _LATE):
                return "idle"
            if stop:
                return "stopped"
            try:
                msg = self._r.recv(_POLL)
                if msg is None and time.monotonic() >= check_at:
                    check_at = time.monotonic() + _CHECK
                    if not self._r.exists():
                        return "lost"
            except _Lost:
                return "lost"
            except KernelError:  # the gateway did not answer the check: the socket will tell
                continue
            if msg is not None and _is_death(msg):
                return "dead"
            if msg is None or _parent(msg) != msg_id:
                continue
            kind, content = msg.get("msg_type"), msg.get("content") or {}
            if kind == "execute_reply":
                replied = True
                if content.get("status") == "error" and not errors:
                    errors.append(content)
                continue
            if kind == "status":
                if content.get("execution_state") == "idle" and not idle_at:
                    idle_at = time.monotonic()
                continue
            if kind == "error":
                errors.append(content)
                if self.language == "shell" and _shell_exit(content) is not None:
                    continue  # a failed command: its exit status says enough
            yield from message_to_events(msg)

    def _recover(self, end: str) -> str:
        """Bring the kernel back after ``end`` (dead / lost / stopped); what happened."""
        what = {
            "dead": f"the {self._label} kernel died ({_describe_exit(None)})",
            "lost": f"the Jupyter gateway at {self.url} lost the {self._label} kernel",
        }.get(end, "the kernel did not stop")
        try:
            with self._lock:
                if end == "dead":
                    self._after_death_locked()
                elif end != "lost":
                    self._restart_locked()
                elif self._r.exists(_REACH):  # only the connection dropped: reconnect
                    self._connect_locked(setup=False)
                    self.interrupt()
                    return (
                        f"the connection to the Jupyter gateway at {self.url} dropped and was "
                        "re-established; the rest of the block's output is lost"
                    )
                else:
                    self._start_locked()
        except KernelError as exc:
            self._r.release()
            return f"{what} and could not be restarted: {exc}"
        return f"{what} and {'it ' if end == 'lost' else ''}was restarted: {_GONE}"

    def _revive_if_gone(self) -> Output | None:
        """Between blocks the kernel may have died, or the gateway lost it: replace it."""
        end = "dead" if self._died else ""
        try:
            while (msg := self._r.recv(0)) is not None:  # what came since the last block
                end = "dead" if _is_death(msg) else end
        except _Lost:
            end = "lost"
        label = self._label
        with self._lock:
            if end == "dead":
                self._after_death_locked()
                what = f"the {label} kernel had died ({_describe_exit(None)}) and was restarted"
            elif end != "lost":
                return None
            elif self._r.exists(_REACH):
                self._connect_locked(setup=False)
                return None
            else:
                self._start_locked()
                what = (
                    f"the Jupyter gateway at {self.url} lost the {label} kernel; it was restarted"
                )
        return Output(stream="stderr", data=f"[{what}: {_GONE}]\n")

    # -- files in remote_cwd -----------------------------------------------------------------

    def list_files(self) -> dict[str, tuple[float, int]]:
        """Relative path → (mtime, size) of the files under ``remote_cwd`` (hidden folders
        skipped); ``{}`` when the kernel is not running or anything fails."""
        if self.remote_cwd is None:
            return {}
        with self._exec_lock:
            try:
                found = json.loads(self._housekeeping(_LIST.format(root=self.remote_cwd)))
                return {str(k): (float(v[0]), int(v[1])) for k, v in found.items()}
            except (KernelError, ValueError, TypeError, AttributeError, IndexError):
                return {}

    def fetch(self, relpath: str, max_bytes: int) -> bytes | None:
        """The content of ``remote_cwd/relpath``; None if it is missing, outside ``remote_cwd``,
        larger than ``max_bytes`` or cannot be read."""
        rel, root = _relative(relpath), self.remote_cwd
        size = _CHUNK_BASH if self._bash else _CHUNK
        parts: list[bytes] = []
        done = 0
        with self._exec_lock:
            while rel is not None and root is not None:
                script = _READ.format(root=root, rel=rel, limit=max_bytes, offset=done, size=size)
                try:
                    out = self._housekeeping(script)
                    part = base64.b64decode(out[5:]) if out.startswith("data:") else None
                except (KernelError, ValueError):
                    return None
                if part is None or done + len(part) > max_bytes:
                    return None
                parts.append(part)
                done += len(part)
                if len(part) < size:
                    return b"".join(parts)
        return None

    def push(self, relpath: str, data: bytes) -> None:
        """Write ``data`` to ``remote_cwd/relpath`` (folders created), in chunks."""
        rel = _relative(relpath)
        if rel is None:
            raise KernelError(f"cannot write {relpath!r}: not a path inside the remote folder")
        self.start()
        if self._plain:
            raise KernelError(f"files cannot be copied to a {self._label} kernel on the gateway")
        size = _CHUNK_BASH if self._bash else _CHUNK
        with self._exec_lock:
            for start in range(0, max(len(data), 1), size):
                piece = base64.b64encode(data[start : start + size]).decode()
                mode = "ab" if start else "wb"
                script = _WRITE.format(root=self.remote_cwd, rel=rel, mode=mode, data=piece)
                if self._housekeeping(script) != "ok":
                    raise KernelError(f"cannot write {relpath!r} on the Jupyter gateway")
