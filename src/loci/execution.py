"""Running one approved block: kernel events in, stored and numbered session events out.

Every output is written to the store *before* it is yielded, so what a user has seen is on
disk even if the process is killed the next moment. Images are saved as files in the
workspace (``loci_outputs/``) and the event carries their path; files the code created or
changed in the workspace are listed on ``ExecutionDone``.

Limits: the output kept (stored, shown, given to the model) per execution is capped by the
kernel's sandbox limits; past the cap the block is stopped, a last note says how much was
cut, and the execution is marked ``truncated``. A block stopped by a limit (output, memory,
processes, time) gets a warning ``Notice`` and ``limit_hit`` in the store; the conversation
goes on. The audit columns (sandbox in force, risk reason) are written with the execution.

A block that reads stdin: its ``InputRequest`` is yielded, then the request's ``stdin``
provider (``loci.stdin``) is asked, within what is left of the timeout, and the answer goes to
the kernel and is stored as a ``stdin`` output (a password as ``••••``). On Stop or timeout
nothing is answered: the kernel interrupts the block as usual.
"""

from __future__ import annotations

import base64
import binascii
import os
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, replace
from pathlib import Path

from .errors import LociError
from .events import (
    Event,
    ExecutionDone,
    ExecutionStart,
    InputRequest,
    KernelResult,
    Notice,
    Output,
)
from .kernels.base import Kernel
from .mirror import Mirror, mirror_for
from .sandbox import Sandbox
from .sizes import human_size
from .stdin import InputProvider, answered, no_input
from .store import Store

OUTPUT_DIR = "loci_outputs"
_IMAGE_EXT = {"image/png": ".png", "image/jpeg": ".jpg", "image/svg+xml": ".svg"}
_SCAN_LIMIT = 5000  # directory entries looked at when listing files made by a block


def snapshot(root: Path, skip: Path | None = None) -> dict[str, float]:
    """Modification times of the files under ``root`` (bounded, skipping hidden dirs and
    ``skip``, loci's own state when it lies inside the workspace)."""
    seen: dict[str, float] = {}
    skipped = str(skip) if skip else None
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [
            d
            for d in dirnames
            if not d.startswith(".") and d != "__pycache__" and os.path.join(dirpath, d) != skipped
        ]
        for name in filenames:
            path = os.path.join(dirpath, name)
            try:
                seen[path] = os.stat(path).st_mtime
            except OSError:
                continue
            if len(seen) >= _SCAN_LIMIT:
                return seen
        if dirpath != str(root) and dirpath.count(os.sep) - str(root).count(os.sep) >= 2:
            dirnames[:] = []
    return seen


def changed_files(
    before: dict[str, float], root: Path, skip: Path | None = None
) -> tuple[str, ...]:
    after = snapshot(root, skip)
    return tuple(sorted(p for p, t in after.items() if before.get(p) != t))


def save_image(out: Output, workdir: Path, stem: str) -> Output:
    """Write a base64 image output to the workspace; return the event with its path."""
    ext = _IMAGE_EXT.get(out.mime)
    if ext is None:
        return out
    try:
        data = (
            out.data.encode("utf-8")
            if out.mime == "image/svg+xml"
            else base64.b64decode(out.data, validate=False)
        )
    except (binascii.Error, ValueError):
        return out
    folder = workdir / OUTPUT_DIR
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{stem}{ext}"
        path.write_bytes(data)
    except OSError:
        return out
    return replace(out, path=str(path))


class _Either(threading.Event):
    """Set when it is set itself or when ``parent`` (the session's Stop) is."""

    def __init__(self, parent: threading.Event) -> None:
        super().__init__()
        self.parent = parent

    def is_set(self) -> bool:
        return super().is_set() or self.parent.is_set()


class OutputCap:
    """Keeps at most ``limit`` characters of a block's output (0: no limit)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.seen = 0
        self.kept = 0
        self.cut = False

    def admit(self, ev: Output) -> Output | None:
        """The event as kept (perhaps shortened), or None once the cap is reached."""
        size = len(ev.data) + len(ev.text)
        self.seen += size
        if self.cut:
            return None
        if not self.limit or self.kept + size <= self.limit:
            self.kept += size
            return ev
        self.cut = True
        room = self.limit - self.kept
        self.kept = self.limit
        if room > 0 and ev.mime == "text/plain":
            return replace(ev, data=ev.data[:room], text=ev.text[:room])
        return None

    def note(self, execution_id: int) -> Output:
        shown = human_size(self.limit)
        return Output(
            stream="stderr",
            data=f"\n[output cut at {shown}: the block wrote {human_size(self.seen)} or more"
            " and was stopped]\n",
            execution_id=execution_id,
        )


_MEMORY_SIGNS = ("MemoryError", "Cannot allocate memory", "std::bad_alloc", "out of memory")
_PROCESS_SIGNS = ("BlockingIOError", "Resource temporarily unavailable", "fork: retry")


def limit_breach(
    result: KernelResult, outputs: list[Output], sandbox: Sandbox | None, cut: bool
) -> tuple[str, str]:
    """Which limit stopped the block (``""`` if none) and a sentence saying so."""
    if cut and sandbox is not None:
        limit = human_size(sandbox.limits.output_bytes)
        return "output", f"output limit reached ({limit} per block)"
    if result.status == "timeout":
        return "time", result.message or "timed out"
    if result.status not in ("error", "crashed") or sandbox is None:
        return "", ""
    errors = [o.data for o in outputs if o.stream in ("stderr", "error")]
    text = " ".join([result.error_name, result.error_value, *errors[-3:]])
    memory = sandbox.limits.memory_bytes
    if memory and any(sign in text for sign in _MEMORY_SIGNS):
        return "memory", f"memory limit reached ({human_size(memory)} per process)"
    if sandbox.process_limit and any(sign in text for sign in _PROCESS_SIGNS):
        return "processes", f"process limit reached ({sandbox.process_limit} processes)"
    return "", ""


def _restart(kernel: Kernel) -> str:
    """A kernel full of processes cannot even start a thread: restart it to end them."""
    try:
        kernel.restart()
    except LociError as exc:
        return f"the kernel could not be restarted: {exc.message}"
    return "the kernel was restarted to end its processes: variables are gone"


def _stream(
    kernel: Kernel, store: Store, request: ExecutionRequest, cap: OutputCap, stem: str
) -> Generator[Event, None, tuple[KernelResult, list[Output]]]:
    """Run the code; store and yield what it prints (within ``cap``); return how it ended
    and the outputs kept."""
    exec_id = int(stem.rsplit("-", 1)[1])
    result = KernelResult("crashed", message="the kernel ended without a result")
    outputs: list[Output] = []
    stop = _Either(request.cancel)
    images = 0
    redact = request.redact
    deadline = None if request.timeout is None else time.monotonic() + request.timeout
    for ev in kernel.execute(request.code, timeout=request.timeout, cancel=stop):
        if isinstance(ev, KernelResult):
            result = ev
            continue
        if isinstance(ev, InputRequest):
            ev = replace(ev, execution_id=exec_id)
            yield ev
            read = _read(kernel, request, ev, deadline)
            if read is None:
                continue
            ev = replace(read, data=redact(read.data))
        kept = cap.admit(replace(ev, execution_id=exec_id))
        if kept is None:
            stop.set()  # over the output limit: stop the block, drop the rest
            continue
        if kept.mime.startswith("image/"):
            images += 1
            kept = save_image(kept, kernel.cwd, f"{stem}-{images}")
        else:  # secrets loci knows of never reach the store, the screen or the model
            kept = replace(kept, data=redact(kept.data), text=redact(kept.text))
        store.add_output(exec_id, kept)
        outputs.append(kept)
        yield kept
    if cap.cut:
        note = cap.note(exec_id)
        store.add_output(exec_id, note)
        outputs.append(note)
        yield note
    return result, outputs


def _read(
    kernel: Kernel, request: ExecutionRequest, ev: InputRequest, deadline: float | None
) -> Output | None:
    """Ask the provider for the read's answer and give it to the kernel; the ``stdin`` output
    that records it, or None when Stop or the timeout ended the wait (nothing is answered)."""
    left = None if deadline is None else max(0.0, deadline - time.monotonic())
    text = request.stdin(ev, request.cancel, left)
    if request.cancel.is_set() or (deadline is not None and time.monotonic() >= deadline):
        return None
    if text is not None:
        text = text.splitlines()[0] if text else ""  # one line, as a terminal sends it
    kernel.answer(text)
    return answered(ev, text, asked=request.stdin.can_answer)


def _remote_before(mirror: Mirror | None) -> dict[str, tuple[float, int]]:
    """For a remote kernel: send the workspace's new files, then list the remote folder."""
    if mirror is None:
        return {}
    mirror.push_local()
    return mirror.remote_files()


@dataclass(frozen=True)
class ExecutionRequest:
    """One approved block to run, and what its audit record keeps: who approved it, the
    risk the approval policy saw (assessed once, there), and the sandbox in force."""

    conversation_id: int
    block_id: str
    language: str
    code: str
    approved_by: str
    cancel: threading.Event  # the session's Stop
    timeout: float | None = None
    risk: str = ""  # why the policy found the code risky ("" when it did not)
    location: str = "off"  # the audit's sandbox column (``KernelPool.location``)
    skip: Path | None = None  # loci's own state, when it lies inside the workspace
    redact: Callable[[str], str] = str  # takes known secret values out of text outputs
    stdin: InputProvider = no_input  # answers the block's reads (``loci.stdin``)


@dataclass(frozen=True)
class ExecutionResult:
    """How a block ended, and the outputs it kept (for the model's trimmed view)."""

    done: ExecutionDone
    outputs: tuple[Output, ...]


def run_block(
    kernel: Kernel, store: Store, request: ExecutionRequest
) -> Generator[Event, None, ExecutionResult]:
    """Run ``request.code``; yield ExecutionStart, Output*, [Notice], ExecutionDone (all
    stored first); return the ``ExecutionResult``."""
    sandbox = kernel.sandbox
    conv = request.conversation_id
    exec_id = store.start_execution(
        conv,
        block_id=request.block_id,
        language=request.language,
        code=request.code,
        approved_by=request.approved_by,
        sandbox=request.location,
        risk=request.risk,
    )
    yield ExecutionStart(exec_id, request.block_id, request.language, request.code)
    workdir = kernel.cwd
    before = snapshot(workdir, request.skip)
    mirror = mirror_for(kernel, workdir)
    remote_before = _remote_before(mirror)
    started = time.monotonic()
    cap = OutputCap(sandbox.limits.output_bytes if sandbox is not None else 0)
    result, outputs = yield from _stream(kernel, store, request, cap, f"{conv}-{exec_id}")
    limit, why = limit_breach(result, outputs, sandbox, cap.cut)
    if limit == "processes":
        why += "; " + _restart(kernel)
    if limit and limit != "time":
        yield Notice("warning", f"{why}; the conversation goes on")
    done = ExecutionDone(
        execution_id=exec_id,
        status=result.status,
        duration=round(time.monotonic() - started, 3),
        exit_code=result.exit_code,
        error_name=result.error_name,
        error_value=request.redact(result.error_value),
        message=_done_message(result.message, limit, why),
        files=changed_files(before, workdir, request.skip),
    )
    if mirror is not None:
        fetched, kept = mirror.pull_changed(remote_before)
        done = replace(done, files=tuple(sorted({*done.files, *fetched})))
        if kept:
            where = kernel.remote_cwd or "the gateway"
            yield Notice("info", f"left on the gateway in {where} (too large): {', '.join(kept)}")
    store.finish_execution(exec_id, done, output_bytes=cap.seen, truncated=cap.cut, limit_hit=limit)
    yield done
    return ExecutionResult(done, tuple(outputs))


def _done_message(message: str, limit: str, why: str) -> str:
    """The kernel's own message, with the limit that stopped the block (if one did)."""
    if limit == "output":
        return f"stopped: {why}" + (f"; {message}" if message != "interrupted" else "")
    if limit:
        return f"{why}" + (f"; {message}" if message and limit != "time" else "")
    return message
