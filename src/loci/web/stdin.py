"""The browser answers the running code's reads: ``WebInput`` is a live conversation's
``InputProvider`` (``loci.stdin``).

It blocks the turn's thread on an ``InputRequest`` until ``answer`` is called with that
execution's id (``POST /api/conversations/ID/input``), the person presses Stop (the session's
Stop is ``stop``), or the block's timeout runs out; in the last two cases nothing is answered
and the kernel interrupts the block. An answer that arrives for no waiting read is refused.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from ..errors import ApprovalError
from ..events import InputRequest

__all__ = ["WebInput"]

POLL_S = 0.1  # how often a waiting read looks at Stop


@dataclass
class _Read:
    request: InputRequest
    answered: threading.Event = field(default_factory=threading.Event)
    text: str | None = None


class WebInput:
    """Waits for the browser's answer to a read, within the block's timeout."""

    can_answer = True  # a person may answer, through the browser or the API

    def __init__(self) -> None:
        self._waiting: dict[int, _Read] = {}
        self._lock = threading.Lock()

    def __call__(
        self, request: InputRequest, stop: threading.Event, timeout: float | None
    ) -> str | None:
        read = _Read(request)
        with self._lock:
            self._waiting[request.execution_id] = read
        until = None if timeout is None else time.monotonic() + timeout
        try:
            while not read.answered.wait(POLL_S):
                if stop.is_set() or (until is not None and time.monotonic() >= until):
                    return None
            return read.text
        finally:
            with self._lock:
                self._waiting.pop(request.execution_id, None)

    def waiting(self) -> list[int]:
        """The executions whose read waits for an answer."""
        with self._lock:
            return list(self._waiting)

    def answer(self, execution_id: int, text: str | None) -> InputRequest:
        """Answer the read of ``execution_id`` (None: end-of-file); the request it answered."""
        with self._lock:
            read = self._waiting.get(execution_id)
            if read is None or read.answered.is_set():
                raise ApprovalError(f"execution {execution_id} is not waiting for input")
            read.text = text
            read.answered.set()
        return read.request
