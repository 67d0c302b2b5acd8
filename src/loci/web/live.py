"""Live conversations: a Session per open conversation, one worker thread per running turn.

Each live conversation writes the JSON events of its turns to an ``EventLog`` (eventlog.py),
which clients read from any point, so a closed browser loses nothing and a reconnecting one
replays what happened meanwhile; the turn itself goes on in its thread whoever is watching.
The events are the ``to_dict`` forms ``loci --json`` prints, and the Session stores them in
SQLite as usual.

Approval: ``WebApprover`` is the Session's Approver. It blocks the worker thread on the
CodeBlock until ``answer`` is called with that block's id AND its sha256 (what the browser was
shown), optionally with edited code; the Decision carries exactly the approved code.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ..approval import Decision, code_hash
from ..config import Settings
from ..errors import ApprovalError, KernelLimitError, LociError, TurnRunningError
from ..events import Approval, CodeBlock, Notice, TurnDone, to_dict
from ..kernels.pool import KernelPool
from ..models.base import Model, close_model
from ..session import Session
from ..store import Store
from ..store.users import User, Users
from .eventlog import EventLog
from .stdin import WebInput

ModelFactory = Callable[[Settings], Model]
PoolFactory = Callable[[Settings, Path], KernelPool]
Action = Literal["run", "skip", "always"]


CLOSE_WAIT_S = 30.0  # how long closing waits for a turn's thread to end
SWITCH_BUSY = "wait for the running request to end before switching models"


@dataclass
class _Pending:
    block: CodeBlock
    answered: threading.Event = field(default_factory=threading.Event)
    decision: Decision | None = None


class WebApprover:
    """Blocks the turn's thread until the browser answers for that exact block.

    ``expect`` registers a block as soon as its CodeBlock event is published (before the
    session asks), so an answer that arrives first is kept, not lost.
    """

    can_confirm = True  # a person answers: risky code may be confirmed here

    def __init__(self, on_risk: Callable[[CodeBlock, str], None] | None = None) -> None:
        self._pending: dict[str, _Pending] = {}
        self._lock = threading.Lock()
        self._on_risk = on_risk

    def expect(self, block: CodeBlock) -> None:
        with self._lock:
            self._pending[block.id] = _Pending(block)

    def forget(self, block_id: str) -> None:
        with self._lock:
            self._pending.pop(block_id, None)

    def __call__(self, block: CodeBlock) -> Decision:
        with self._lock:
            pending = self._pending.get(block.id)
            if pending is None or pending.block.sha256 != block.sha256:
                pending = self._pending[block.id] = _Pending(block)
        pending.answered.wait()
        self.forget(block.id)
        assert pending.decision is not None
        return pending.decision

    def confirm_risk(self, block: CodeBlock, reason: str) -> Decision:
        """Risky code: say why, then wait for the person like any block (even on auto-run)."""
        if self._on_risk is not None:
            self._on_risk(block, reason)
        return self(block)

    def waiting(self) -> list[str]:
        with self._lock:
            return list(self._pending)

    def answer(self, block_id: str, sha256: str, action: Action, code: str | None) -> Decision:
        """Decide a waiting block. ``sha256`` must be the hash of the code that was shown."""
        with self._lock:
            pending = self._pending.get(block_id)
            if pending is None or pending.decision is not None:
                raise ApprovalError(f"no code block {block_id!r} is waiting for approval")
            block = pending.block
            if sha256 != block.sha256:
                raise ApprovalError(
                    f"block {block_id!r} is not the code you approved (hash mismatch)"
                )
            run = block.code if code is None else code
            if not run.strip():
                raise ApprovalError("the edited code is empty; skip the block instead")
            if action == "skip":
                decision = Decision(False, "user", block.code, reason="the user said no")
            else:
                decision = Decision(True, "user", run, always=action == "always")
            pending.decision = decision
        pending.answered.set()
        return decision

    def cancel_all(self, reason: str) -> None:
        """Refuse every waiting block (the Stop button, shutdown)."""
        with self._lock:
            pending = [p for p in self._pending.values() if p.decision is None]
            for p in pending:
                p.decision = Decision(False, "user", p.block.code, reason=reason)
        for p in pending:
            p.answered.set()


class LiveConversation:
    """An open conversation: its Session, its event log, the thread of its running turn."""

    def __init__(
        self,
        session: Session,
        approver: WebApprover,
        workspace: Path,
        log: EventLog,
        owner: int | None = None,
        reads: WebInput | None = None,
    ) -> None:
        self.session = session
        self.approver = approver
        self.reads = reads or WebInput()  # the session's InputProvider (``web.stdin``)
        self.workspace = workspace
        self.log = log
        self.owner = owner  # the user id in multi-user mode
        self.last_active = time.monotonic()
        self.turn_started = 0.0  # store time when the running (or last) turn began
        self.turn_after = 0  # the log's seq before the running (or last) turn
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def id(self) -> int:
        return self.session.conversation_id

    @property
    def running(self) -> bool:
        with self._lock:
            return self._thread is not None and self._thread.is_alive()

    def start_turn(self, text: str) -> int:
        """Run ``text`` in a new thread; returns the log's seq before the turn's first event."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                raise TurnRunningError("a request is already running in this conversation")
            self.turn_after = self.log.last_seq
            self.turn_started = time.time()
            self.last_active = time.monotonic()
            self._thread = threading.Thread(
                target=self._work, args=(text,), name=f"loci-turn-{self.id}", daemon=True
            )
            self._thread.start()
            return self.turn_after

    def switch_model(self, model: Model, settings: Settings) -> None:
        """Use ``model`` from the next turn on; TurnRunningError while one runs (checked under
        the lock ``start_turn`` takes, so a turn never streams from a model being closed)."""
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self.session.switch_model(model)
                self.session.settings = settings
                return
        close_model(model)
        raise TurnRunningError(SWITCH_BUSY)

    def _work(self, text: str) -> None:
        try:
            for event in self.session.run(text):
                if isinstance(event, CodeBlock):
                    self.approver.expect(event)  # before anyone can see it and answer
                elif isinstance(event, Approval):
                    self.approver.forget(event.block_id)
                self.log.append(to_dict(event))
        except Exception as exc:  # a bug or an unexpected failure must still end the turn
            message = exc.message if isinstance(exc, LociError) else f"internal error: {exc!r}"
            self.log.append(to_dict(Notice("error", message)))
            self.log.append(to_dict(TurnDone("error", conversation_id=self.id, message=message)))
        finally:
            self.last_active = time.monotonic()

    def idle_for(self) -> float:
        """Seconds since the last request ended (0 while one runs or waits for approval)."""
        return 0.0 if self.running else time.monotonic() - self.last_active

    def interrupt(self) -> None:
        self.session.interrupt()
        self.approver.cancel_all("the user stopped the request")

    def join(self, timeout: float | None = None) -> None:
        with self._lock:
            thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def close(self) -> None:
        self.interrupt()
        self.join(CLOSE_WAIT_S)
        self.session.close()


class Hub:
    """Every live conversation of one app, created on first use and closed at shutdown.

    A live conversation holds kernels. ``max_kernels`` caps how many one user may hold (a
    user's own ``User.max_kernels`` wins): opening one more first closes that user's longest
    idle one, and fails with ``KernelLimitError`` when all are busy. With ``idle_timeout``
    (seconds), a conversation idle that long is closed by a reaper thread; its history stays,
    and the next request resumes it with fresh kernels (the model is told).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        model_factory: ModelFactory,
        pool_factory: PoolFactory | None = None,
        users: Users | None = None,
        max_kernels: int | None = None,
        idle_timeout: float = 0.0,
    ) -> None:
        self.settings = settings
        self.model_factory = model_factory
        self.pool_factory = pool_factory
        self.users = users
        self.max_kernels = max_kernels
        self.idle_timeout = idle_timeout
        self._live: dict[int, LiveConversation] = {}
        self._logs: dict[int, EventLog] = {}
        self._lock = threading.Lock()
        self._opening = threading.Lock()
        self._stop = threading.Event()
        self._closing: list[threading.Thread] = []  # conversations being retired
        if idle_timeout > 0:
            period = min(30.0, max(idle_timeout / 4, 0.05))
            threading.Thread(
                target=self._reap, args=(period,), name="loci-reaper", daemon=True
            ).start()

    def log(self, conv_id: int) -> EventLog:
        """The event log of ``conv_id`` (empty until a turn runs there)."""
        with self._lock:
            return self._logs.setdefault(conv_id, EventLog())

    def get(self, conv_id: int) -> LiveConversation | None:
        with self._lock:
            return self._live.get(conv_id)

    def all(self) -> list[LiveConversation]:
        with self._lock:
            return list(self._live.values())

    def create(
        self,
        workspace: Path,
        *,
        model: str | None,
        auto_run: bool | None,
        user: User | None = None,
    ) -> LiveConversation:
        """A new conversation with its own kernels, working in ``workspace``."""
        with self._opening:
            self._make_room(user)
            return self._open(workspace, None, model=model, auto_run=auto_run, user=user)

    def open(self, conv_id: int, workspace: Path, user: User | None = None) -> LiveConversation:
        """The live conversation ``conv_id``, resuming it from the store if needed."""
        with self._opening:
            return self._open_locked(conv_id, workspace, user)

    def send(
        self, conv_id: int, workspace: Path, text: str, *, user: User | None = None
    ) -> tuple[LiveConversation, int]:
        """Open ``conv_id`` and start a turn with ``text``; returns it and the log's seq
        before the turn. Both under the opening lock, so neither a cap nor the reaper can
        close the conversation in between."""
        with self._opening:
            live = self._open_locked(conv_id, workspace, user)
            return live, live.start_turn(text)

    def _open_locked(self, conv_id: int, workspace: Path, user: User | None) -> LiveConversation:
        live = self.get(conv_id)
        if live is None:
            self._make_room(user)
            live = self._open(workspace, conv_id, model=None, auto_run=None, user=user)
        live.last_active = time.monotonic()  # the reaper leaves it alone now
        return live

    def _cap(self, user: User | None) -> int | None:
        if user is not None and user.max_kernels is not None:
            return user.max_kernels
        return self.max_kernels

    def _make_room(self, user: User | None) -> None:
        """Keep ``user`` under their cap: close their longest idle conversation, or refuse."""
        cap = self._cap(user)
        if cap is None:
            return
        owner = None if user is None else user.id
        mine = [c for c in self.all() if c.owner == owner]
        while len(mine) >= cap:
            idle = sorted((c for c in mine if not c.running), key=lambda c: -c.idle_for())
            if not idle:
                raise KernelLimitError(
                    f"you already have {len(mine)} conversation(s) running code (the limit is "
                    f"{cap}); wait for one to finish or stop it"
                )
            self.retire(idle[0])
            mine.remove(idle[0])

    def retire(self, live: LiveConversation) -> None:
        """Close one live conversation: its kernels stop, its history stays in the store, and
        its event log lets go of the events it kept (numbering goes on). The shutdown runs on
        its own thread: a slow kernel or gateway must not hold up other users meanwhile."""
        with self._lock:
            if self._live.get(live.id) is live:
                del self._live[live.id]

        seen = live.log.last_seq  # a turn reopened meanwhile appends after this: kept

        def close() -> None:
            live.close()
            live.log.trim(seen)

        closing = threading.Thread(target=close, name=f"loci-retire-{live.id}", daemon=True)
        with self._lock:
            self._closing = [t for t in self._closing if t.is_alive()] + [closing]
        closing.start()

    def _reap(self, period: float) -> None:
        while not self._stop.wait(period):
            for live in self.all():
                with self._opening:  # not while a request is opening it
                    if not live.running and live.idle_for() >= self.idle_timeout:
                        self.retire(live)

    def _open(
        self,
        workspace: Path,
        conv_id: int | None,
        *,
        model: str | None,
        auto_run: bool | None,
        user: User | None,
    ) -> LiveConversation:
        changes: dict[str, object] = {"workdir": workspace}
        if model:
            changes["model"] = model
        if auto_run is not None:
            changes["auto_run"] = auto_run
        if self.users is not None:  # MCP servers run with the owner's rights: not for everyone
            changes["mcp_servers"] = ()
        settings = self.settings.replace(**changes)
        workspace.mkdir(parents=True, exist_ok=True)
        log: list[EventLog] = []

        def on_risk(block: CodeBlock, reason: str) -> None:
            if log:
                text = f"this code {reason}: it runs only if you confirm it"
                log[0].append(to_dict(Notice("warning", text)))

        approver, reads = WebApprover(on_risk), WebInput()
        session = Session(
            settings,
            model=self.model_factory(settings),
            store=Store(settings.db_path),
            kernels=self._pool(settings, workspace, user),
            approver=approver,
            conversation_id=conv_id,
            stdin=reads,
        )
        if conv_id is None and user is not None and self.users is not None:
            self.users.assign(session.conversation_id, user.id)
        log.append(self.log(session.conversation_id))
        owner = None if user is None else user.id
        live = LiveConversation(session, approver, workspace, log[0], owner, reads)
        with self._lock:
            self._live[live.id] = live
        return live

    def _pool(self, settings: Settings, workspace: Path, user: User | None) -> KernelPool:
        if self.pool_factory is not None:
            return self.pool_factory(settings, workspace)
        # with many users, the sandbox hides LOCI_HOME (everyone's history, the other
        # workspaces, other users' venvs) and the server's secrets from each user's code
        owner = user.name if user is not None and self.users is not None else None
        return KernelPool.from_settings(settings, owner=owner)

    def set_model(self, live: LiveConversation, spec: str) -> None:
        if live.running:  # checked again, under the turn's lock, by switch_model
            raise TurnRunningError(SWITCH_BUSY)
        settings = live.session.settings.replace(model=spec)
        live.switch_model(self.model_factory(settings), settings)
        live.session.store.set_model(live.id, live.session.model.name)

    def close(self) -> None:
        """Stop every running turn and shut every kernel down."""
        self._stop.set()
        with self._lock:
            live, self._live = list(self._live.values()), {}
        for conv in live:
            conv.interrupt()
        for conv in live:
            conv.close()
        with self._lock:
            closing, self._closing = self._closing, []
        for thread in closing:
            thread.join(CLOSE_WAIT_S)


__all__ = [
    "ApprovalError",
    "EventLog",
    "Hub",
    "KernelLimitError",
    "LiveConversation",
    "TurnRunningError",
    "WebApprover",
    "code_hash",
]
