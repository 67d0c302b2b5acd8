"""The loci conversation behind each MCP session, and the bridge from async to the Session.

One conversation per MCP session: over stdio the process is one session (key ``None``); over
streamable HTTP each ``Mcp-Session-Id`` is one, with kernels of its own (a request without
one, as the 2026 protocol sends them, uses the ``None`` conversation). A conversation is
opened when its session first runs code, so a client that only lists tools leaves no empty
conversation in ``loci history``; ``resume`` makes the first one continue a stored
conversation instead.

The Session is synchronous and calls its approver from inside ``execute``, so each call runs
in a worker thread (``in_worker``), one at a time per conversation; the approver reaches back
into the event loop to ask the person (``loci.mcp.approver``). When the MCP request is
cancelled, the session is interrupted and the worker waited for, so the next call finds the
kernel idle. Conversations idle longer than ``idle_timeout`` (the HTTP sessions' own timeout)
are closed, and every one is closed with the server.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import Generic, TypeVar

import anyio
import anyio.to_thread

from ..config import Settings
from ..direct import ExternalModel
from ..events import Event
from ..session import Session
from .approver import Asker, ElicitingApprover

T = TypeVar("T")


class _Worker(Generic[T]):
    """``fn`` in a worker thread, told to ``stop`` if its caller is cancelled."""

    def __init__(self, fn: Callable[[], T], stop: Callable[[], None]) -> None:
        self.fn, self.stop = fn, stop
        self.done = threading.Event()
        self._lock = threading.Lock()
        self._started = self._abandoned = False

    def _work(self) -> T | None:
        with self._lock:
            if self._abandoned:  # cancelled before the thread began: never run it
                return None
            self._started = True
        try:
            return self.fn()
        finally:
            self.done.set()

    async def run(self) -> T:
        try:
            result: T | None = await anyio.to_thread.run_sync(self._work, abandon_on_cancel=True)
        except anyio.get_cancelled_exc_class():
            with self._lock:
                self._abandoned = True
                started = self._started
            if started:
                self.stop()
                with anyio.CancelScope(shield=True):  # the kernel is idle again before we go
                    await anyio.to_thread.run_sync(self.done.wait)
            raise
        return result  # type: ignore[return-value]  # None only when abandoned


async def in_worker(fn: Callable[[], T], stop: Callable[[], None]) -> T:
    """``fn()`` in a worker thread. If the waiting task is cancelled, ``stop()`` is called and
    the thread waited for (shielded) before the cancellation goes on."""
    return await _Worker(fn, stop).run()


def _drain(
    session: Session, language: str, code: str, seen: Callable[[Event], None]
) -> tuple[list[Event], str]:
    """Every event of ``session.execute`` (each shown to ``seen`` as it comes) and the result
    text it returns."""
    run = session.execute(language, code)
    events: list[Event] = []
    while True:
        try:
            event = next(run)
        except StopIteration as end:
            return events, end.value
        events.append(event)
        seen(event)


class Conversation:
    """One MCP session's Session, its approver, and the lock that runs its calls in turn."""

    def __init__(self, session: Session, approver: ElicitingApprover) -> None:
        self.session = session
        self.approver = approver
        self.lock = anyio.Lock()
        self.last_used = time.monotonic()

    async def execute(
        self, language: str, code: str, asker: Asker, seen: Callable[[Event], None]
    ) -> tuple[list[Event], str]:
        """Run one block (waiting for the one before it); its events and result text.
        ``seen`` is shown each event as it comes, in the worker thread."""
        async with self.lock:
            self.approver.asker = asker
            self.session.policy.can_confirm = asker.can_ask
            try:
                work = partial(_drain, self.session, language, code, seen)
                return await in_worker(work, partial(self._stop, asker))
            finally:
                self.approver.asker = None
                self.last_used = time.monotonic()

    def _stop(self, asker: Asker) -> None:
        self.session.interrupt()
        asker.stopped.set()  # a question still open is withdrawn

    @property
    def busy(self) -> bool:
        return self.lock.locked()


class Conversations:
    """The conversations of a server's MCP sessions, by session key (see the module's
    docstring)."""

    def __init__(
        self, settings: Settings, *, resume: int | None = None, idle_timeout: float | None = None
    ) -> None:
        self.settings = settings
        self.resume = resume
        self.idle_timeout = idle_timeout
        self._open: dict[str | None, Conversation] = {}
        self._opening = anyio.Lock()

    async def get(
        self, key: str | None, client: str, *, create: bool = True
    ) -> Conversation | None:
        """The conversation of session ``key``, opened (a new one, or the resumed one) when
        it has none yet and ``create``; None when it has none and may not have one."""
        await self._close_idle()
        async with self._opening:
            found = self._open.get(key)
            if found is not None:
                found.last_used = time.monotonic()
                return found
            if not create and not (key is None and self.resume is not None):
                return None
            resume, self.resume = (self.resume, None) if key is None else (None, self.resume)
            found = await anyio.to_thread.run_sync(partial(self._start, client, resume))
            self._open[key] = found
            return found

    def _start(self, client: str, resume: int | None) -> Conversation:
        approver = ElicitingApprover()
        session = Session(
            self.settings,
            model=ExternalModel(f"mcp:{client}"),
            approver=approver,
            conversation_id=resume,
        )
        return Conversation(session, approver)

    async def end(self, key: str | None) -> None:
        """Close session ``key``'s conversation (its kernels), if it has one."""
        found = self._open.pop(key, None)
        if found is not None:
            async with found.lock:  # a block still running ends first
                await anyio.to_thread.run_sync(found.session.close)

    async def _close_idle(self) -> None:
        if not self.idle_timeout:
            return
        limit = time.monotonic() - self.idle_timeout
        for key, conv in list(self._open.items()):
            if conv.last_used < limit and not conv.busy:
                await self.end(key)

    async def close_all(self) -> None:
        with anyio.CancelScope(shield=True):
            for key in list(self._open):
                await self.end(key)

    @contextlib.asynccontextmanager
    async def lifetime(self) -> AsyncIterator[None]:
        """Open for as long as the server runs; every conversation is closed after it."""
        try:
            yield
        finally:
            await self.close_all()
