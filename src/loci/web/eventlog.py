"""A conversation's live events: numbered JSON, appended by worker threads, read by SSE streams.

Events are numbered from 1 (``seq``) for as long as the server runs. Clients read from any
point (the SSE ``Last-Event-ID`` / ``?after=N``); ``wait`` lets an asyncio stream sleep until
there is more. The store keeps everything for good; this log only serves live readers, so
``trim`` may let go of old events while the numbering goes on.
"""

from __future__ import annotations

import asyncio
import json
import threading


class EventLog:
    """Append-only, numbered JSON events; threads append, asyncio streams wait for more.

    ``trim`` forgets the events kept so far (the store has them all) while numbering goes on,
    so a server's memory follows its live conversations, not everything ever said."""

    def __init__(self) -> None:
        self._items: list[str] = []
        self.trimmed = 0  # events dropped by trim(): the kept ones are numbered after these
        self._lock = threading.Lock()
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    @property
    def last_seq(self) -> int:
        with self._lock:
            return self.trimmed + len(self._items)

    def trim(self, upto: int) -> None:
        """Forget the events numbered up to ``upto``; later ones (a new turn's) stay."""
        with self._lock:
            drop = max(0, min(upto - self.trimmed, len(self._items)))
            self.trimmed += drop
            self._items = self._items[drop:]

    def append(self, event: dict[str, object]) -> int:
        data = json.dumps(event, ensure_ascii=False)
        with self._lock:
            self._items.append(data)
            seq = self.trimmed + len(self._items)
            waiters, self._waiters = self._waiters, []
        for loop, flag in waiters:
            try:
                loop.call_soon_threadsafe(flag.set)
            except RuntimeError:  # that loop has closed: nobody waits there any more
                continue
        return seq

    def since(self, after: int) -> list[tuple[int, str]]:
        """Events with seq > ``after`` that are still kept, as (seq, json)."""
        with self._lock:
            start = max(after, self.trimmed)
            kept = self._items[start - self.trimmed :]
            return [(start + i + 1, d) for i, d in enumerate(kept)]

    async def wait(self, after: int, timeout: float) -> None:
        """Return when an event with seq > ``after`` exists, or after ``timeout`` seconds."""
        flag = asyncio.Event()
        with self._lock:
            if self.trimmed + len(self._items) > after:
                return
            self._waiters.append((asyncio.get_running_loop(), flag))
        try:
            await asyncio.wait_for(flag.wait(), timeout)
        except asyncio.TimeoutError:
            return
