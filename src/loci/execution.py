"""Running one approved block: kernel events in, stored and numbered session events out.

Every output is written to the store *before* it is yielded, so what a user has seen is on
disk even if the process is killed the next moment. Images are saved as files in the
workspace (``loci_outputs/``) and the event carries their path; files the code created or
changed in the workspace are listed on ``ExecutionDone``.
"""

from __future__ import annotations

import base64
import binascii
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from .events import Event, ExecutionDone, ExecutionStart, KernelResult, Output
from .kernels.base import Kernel
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


def run_block(
    kernel: Kernel,
    store: Store,
    *,
    conversation_id: int,
    block_id: str,
    language: str,
    code: str,
    approved_by: str,
    timeout: float | None,
    cancel: threading.Event,
    outputs: list[Output],
    skip: Path | None = None,
) -> Iterator[Event]:
    """Run ``code``; yield ExecutionStart, Output*, ExecutionDone (all stored first).
    ``outputs`` receives the Output events, for the caller to feed back to the model."""
    exec_id = store.start_execution(
        conversation_id, block_id=block_id, language=language, code=code, approved_by=approved_by
    )
    yield ExecutionStart(exec_id, block_id, language, code)
    workdir = kernel.cwd
    before = snapshot(workdir, skip)
    started = time.monotonic()
    result = KernelResult("crashed", message="the kernel ended without a result")
    images = 0
    for ev in kernel.execute(code, timeout=timeout, cancel=cancel):
        if isinstance(ev, KernelResult):
            result = ev
            continue
        ev = replace(ev, execution_id=exec_id)
        if ev.mime.startswith("image/"):
            images += 1
            ev = save_image(ev, workdir, f"{conversation_id}-{exec_id}-{images}")
        store.add_output(exec_id, ev)
        outputs.append(ev)
        yield ev
    done = ExecutionDone(
        execution_id=exec_id,
        status=result.status,
        duration=round(time.monotonic() - started, 3),
        exit_code=result.exit_code,
        error_name=result.error_name,
        error_value=result.error_value,
        message=result.message,
        files=changed_files(before, workdir, skip),
    )
    store.finish_execution(exec_id, done)
    yield done
