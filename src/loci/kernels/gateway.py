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

The REST calls, the channels socket and the messages are in ``gateway_wire``, the code loci runs
in the kernel for itself (its folder, files) in ``gateway_files``, the run loop in ``runloop``;
this module decides what to do with them.
"""

from __future__ import annotations

import shlex
import time
import weakref
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

from ..errors import KernelError
from ..events import KernelResult, Output
from .gateway_files import (
    REMOVE,
    SETUP,
    execute_content,
    housekeeping_answer,
    housekeeping_code,
    list_files,
    read_file,
    relative_path,
    write_file,
)
from .gateway_wire import (
    Died,
    Lost,
    Refused,
    RemoteKernel,
    Rest,
    gateway_kernelspecs,
    gateway_languages,
    is_death,
    parent_id,
    shell_exit,
)
from .iopub import Request, message_to_events
from .jupyter import GONE, RESTORE, START_TIMEOUT, STASH
from .runloop import GRACE, POLL, End, RunLoop, describe_exit

__all__ = ["GatewayKernel", "gateway_kernelspecs", "gateway_languages"]

_CHECK = 3.0  # seconds between checks, during a block, that the gateway still has the kernel
_RETRY = 10.0  # seconds per attempt to reach a kernel that the gateway restarted by itself
_SETTLE = 0.5  # seconds to let the gateway begin a restart before each attempt to reach it
_REACH = 15.0  # seconds to wait for a gateway that dropped the connection to answer again
_CALL = 60.0  # seconds for loci's own housekeeping code in the kernel
_CLEAN = 5.0  # seconds for removing loci's temporary folder at shutdown
_LATE = 1.0  # seconds to wait, after idle, for a block's execute reply (it has its own channel)


class GatewayKernel(RunLoop[Request]):
    """A kernel on a Jupyter Kernel Gateway / Enterprise Gateway; see the module docstring."""

    def __init__(
        self,
        url: str,
        workdir: Path,
        *,
        token: str | None = None,
        kernel_name: str | None = None,
        language: str = "python",
        grace: float = GRACE,
        start_timeout: float = START_TIMEOUT,
        env: dict[str, str] | None = None,
    ) -> None:
        super().__init__(workdir, grace)
        self.url = url.rstrip("/")
        self.kernel_name = kernel_name
        self.language = language
        self.start_timeout = start_timeout
        self.env = dict(env or {})
        self._kind = ""  # the kernelspec's language, lowercased: "python", "bash", "scheme" …
        self._bash = False  # the kernelspec itself is bash (else Python, maybe ``%%bash`` cells)
        self._plain = False  # neither Python nor bash: loci runs no code of its own there
        self._died = False  # the gateway said the kernel died while no block was running
        self._own_folder = False  # remote_cwd is a temporary folder loci made (shutdown removes it)
        self._r = RemoteKernel(Rest(self.url, token))
        self._finalizer = weakref.finalize(self, self._r.release)

    @property
    def kernel_id(self) -> str | None:
        """The gateway's id of the kernel while it runs."""
        return self._r.kernel_id

    # -- lifecycle ---------------------------------------------------------------------------

    def _running(self) -> bool:
        return self._r.kernel_id is not None

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
        self.remote_cwd = self._housekeeping(SETUP.format(env=self.env, folder=folder), timeout)
        self._own_folder = self._own_folder or not folder  # a temporary folder loci made
        if self._bash:  # python3 set nothing in bash itself
            exports = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in self.env.items())
            self._private(f"{exports}cd {shlex.quote(self.remote_cwd)}", timeout)
        else:
            self._private(STASH, timeout)

    def _restart_locked(self) -> None:
        """REST restart (a new kernel if the gateway no longer knows this one)."""
        self._r.close_socket()
        if not self._r.restart(self.start_timeout):
            self._start_locked()
        elif not self._reconnect_locked():
            raise KernelError(
                f"the kernel on the Jupyter gateway at {self.url} did not answer after a restart"
            )

    def _reconnect_locked(self, gone: Callable[[], bool] = lambda: False) -> bool:
        """Connect again until the kernel answers (True), ``start_timeout`` passes or
        ``gone()`` (False). A socket opened while the gateway is still switching a restarted
        kernel over may reach the old one, which never answers: hence ``_RETRY`` per try."""
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            self._r.close_socket()
            time.sleep(_SETTLE)
            try:
                self._connect_locked(timeout=_RETRY)
                return True
            except Refused:
                raise
            except KernelError:
                if gone():
                    return False
        return False

    def _replace_locked(self, end: End) -> bool:
        """A working kernel again after ``end`` (dead / lost / stopped); False when only the
        connection had dropped and was re-established (the kernel and its variables live on).
        The gateway restarts a dead kernel by itself: reach the new one, else restart it (also
        when the gateway gave up on it after too many deaths)."""
        if end == "dead":
            if not self._reconnect_locked(gone=lambda: not self._r.exists()):
                self._restart_locked()
        elif end != "lost":
            self._restart_locked()
        elif self._r.exists(_REACH):
            self._connect_locked(setup=False)
            return False
        else:
            self._start_locked()
        return True

    def interrupt(self) -> None:
        self._r.interrupt()

    def shutdown(self) -> None:
        with self._lock:
            own = self.remote_cwd if self._own_folder else None
            if own and self._r.socket is not None and self._exec_lock.acquire(blocking=False):
                try:  # the private temporary folder goes with the kernel
                    self._housekeeping(REMOVE.format(root=own), _CLEAN)
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
        except Died:
            self._died = True
            raise

    def _private(self, code: str, timeout: float) -> dict[str, Any]:
        """Run loci's own code in the kernel and wait for it; its reply."""
        content = execute_content(code, private=True, bash=self._bash)
        reply = self._request("execute_request", content, timeout)
        if reply.get("status") != "ok":
            what = f"{reply.get('ename', '')}: {reply.get('evalue', '')}"
            raise KernelError(f"loci's housekeeping code failed in the kernel ({what})")
        return reply

    def _housekeeping(self, script: str, timeout: float = _CALL) -> str:
        """Run a housekeeping script (in a namespace of its own, or in python3 next to a bash
        kernel); what it left in ``sys._loci_out``."""
        code = housekeeping_code(script, bash=self._bash)
        return housekeeping_answer(self._private(code, timeout), bash=self._bash)

    # -- execution (RunLoop's hooks) ---------------------------------------------------------

    def _revive(self) -> Output | None:
        """Between blocks the kernel may have died, or the gateway lost it: replace it."""
        end: End = "dead" if self._died else "done"
        try:
            while (msg := self._r.recv(0)) is not None:  # what came since the last block
                end = "dead" if is_death(msg) else end
        except Lost:
            end = "lost"
        if end == "done":
            return None
        label = self._label
        with self._lock:
            if not self._replace_locked(end):
                return None
        if end == "dead":
            what = f"the {label} kernel had died ({describe_exit(None)}) and was restarted"
        else:
            what = f"the Jupyter gateway at {self.url} lost the {label} kernel; it was restarted"
        return Output(stream="stderr", data=f"[{what}: {GONE}]\n")

    def _send(self, code: str) -> Request:
        """Send the block; a Request without ``msg_id`` when the connection is lost."""
        python = not self._bash and not self._plain
        try:
            if python:
                self._r.send("execute_request", execute_content(RESTORE, private=True, bash=False))
            cell = "%%bash\n" + code if self.language == "shell" and python else code
            content = execute_content(cell, private=False, bash=self._bash)
            return Request(self._r.send("execute_request", content))
        except Lost:
            return Request(None)

    def _pump(
        self, block: Request, should_stop: Callable[[], bool]
    ) -> Generator[Output, None, End]:
        """Yield the block's outputs until ``idle`` (done) / ``dead`` / ``lost`` / ``stopped``.
        Idle waits ``_LATE`` seconds for the execute reply: some kernels (metakernel's) report
        errors there only, and it comes on another channel than idle."""
        check_at = time.monotonic() + _CHECK
        replied, idle_at = False, 0.0
        while block.msg_id is not None:
            stop = should_stop()
            if idle_at and (replied or stop or time.monotonic() > idle_at + _LATE):
                return "done"
            if stop:
                return "stopped"
            try:
                msg = self._r.recv(POLL)
                if msg is None and time.monotonic() >= check_at:
                    check_at = time.monotonic() + _CHECK
                    if not self._r.exists():
                        return "lost"
            except Lost:
                return "lost"
            except KernelError:  # the gateway did not answer the check: the socket will tell
                continue
            if msg is not None and is_death(msg):
                return "dead"
            if msg is None or parent_id(msg) != block.msg_id:
                continue
            block.see(msg)
            kind, content = msg.get("msg_type"), msg.get("content") or {}
            if kind == "execute_reply":
                replied = True
                if content.get("status") == "error" and not block.errors:
                    block.errors.append(content)
                continue
            if kind == "status":
                if content.get("execution_state") == "idle" and not idle_at:
                    idle_at = time.monotonic()
                continue
            if kind == "error":
                block.errors.append(content)
                if self.language == "shell" and shell_exit(content) is not None:
                    continue  # a failed command: its exit status says enough
            yield from message_to_events(msg)
        return "lost"  # the block was never sent

    def _begun(self, block: Request, ago: float = 0.0) -> bool:
        return block.begun(ago)

    def _finished(self, block: Request) -> KernelResult:
        errors = block.errors
        code = shell_exit(errors[-1]) if errors and self.language == "shell" else None
        return block.result() if code is None else KernelResult("error", exit_code=code)

    def _recover(self, end: End) -> str:
        what = {
            "dead": f"the {self._label} kernel died ({describe_exit(None)})",
            "lost": f"the Jupyter gateway at {self.url} lost the {self._label} kernel",
        }.get(end, "the kernel did not stop")
        try:
            with self._lock:
                if not self._replace_locked(end):
                    self.interrupt()
                    return (
                        f"the connection to the Jupyter gateway at {self.url} dropped and was "
                        "re-established; the rest of the block's output is lost"
                    )
        except KernelError as exc:
            self._r.release()
            return f"{what} and could not be restarted: {exc}"
        return f"{what} and {'it ' if end == 'lost' else ''}was restarted: {GONE}"

    # -- files in remote_cwd (the mirror's RemoteFiles) -------------------------------------

    def list_files(self) -> dict[str, tuple[float, int]]:
        """Relative path → (mtime, size) of the files under ``remote_cwd`` (hidden folders
        skipped); ``{}`` when the kernel is not running or anything fails."""
        if self.remote_cwd is None:
            return {}
        with self._exec_lock:
            return list_files(self._housekeeping, self.remote_cwd)

    def fetch(self, relpath: str, max_bytes: int) -> bytes | None:
        """The content of ``remote_cwd/relpath``; None if it is missing, outside ``remote_cwd``,
        larger than ``max_bytes`` or cannot be read."""
        root = self.remote_cwd
        with self._exec_lock:
            return read_file(self._housekeeping, root, relpath, max_bytes, bash=self._bash)

    def push(self, relpath: str, data: bytes) -> None:
        """Write ``data`` to ``remote_cwd/relpath`` (folders created), in chunks."""
        rel = relative_path(relpath)
        if rel is None:
            raise KernelError(f"cannot write {relpath!r}: not a path inside the remote folder")
        self.start()
        if self._plain:
            raise KernelError(f"files cannot be copied to a {self._label} kernel on the gateway")
        with self._exec_lock:
            if not write_file(self._housekeeping, self.remote_cwd, rel, data, bash=self._bash):
                raise KernelError(f"cannot write {relpath!r} on the Jupyter gateway")
