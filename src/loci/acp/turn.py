"""One prompt: ``Session.run`` in a worker thread, bridged to the agent's asyncio loop.

``Session.run`` is synchronous and asks its approver synchronously, so the turn runs in a
thread of its own. The thread posts everything to one queue on the loop, in order: each event,
and each question for the person (``Ask``: the block, why it is risky, a future the answer
goes into). The prompt's coroutine takes them off the queue one by one, so the editor sees
the tool call before the permission request about it, and the permission request before the
outputs. ``AcpApprover`` is the session's approver: it posts an ``Ask`` and waits for its
answer in the worker thread.

Permission options: allow once, allow always (loci's "always": auto-run for the rest of the
conversation; not offered for risky code, which always asks), reject. A cancelled request,
or a ``session/cancel`` while one waits, answers no. Cancel interrupts the session (the model
stream or the running code); the prompt then ends with stop reason ``cancelled``.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

from acp.interfaces import Client
from acp.schema import AllowedOutcome, PermissionOption, RequestPermissionResponse, StopReason

from ..approval import Decision
from ..errors import LociError
from ..events import CodeBlock, Event, Notice, TurnDone, TurnStart
from ..session import Session
from .errors import to_request_error, turn_failed
from .translate import TurnUpdates

ALLOW, ALWAYS, REJECT = "allow", "always", "reject"
STOP_REASONS: dict[str, StopReason] = {"max_steps": "max_turn_requests", "interrupted": "cancelled"}


def permission_options(risky: bool) -> list[PermissionOption]:
    options = [PermissionOption(option_id=ALLOW, name="Run", kind="allow_once")]
    if not risky:
        options.append(PermissionOption(option_id=ALWAYS, name="Always run", kind="allow_always"))
    options.append(PermissionOption(option_id=REJECT, name="Don't run", kind="reject_once"))
    return options


def decision(chosen: str | None, block: CodeBlock) -> Decision:
    """loci's Decision for the option the person chose (``None``: the request was cancelled)."""
    if chosen in (ALLOW, ALWAYS):
        return Decision(True, "user", block.code, always=chosen == ALWAYS)
    reason = "the user said no" if chosen == REJECT else "the request was cancelled"
    return Decision(False, "user", block.code, reason=reason)


@dataclass(frozen=True)
class Ask:
    """A question for the person about ``block``; the worker waits for ``answer``."""

    block: CodeBlock
    risk: str
    answer: Future[Decision] = field(default_factory=Future, compare=False)


@dataclass(frozen=True)
class Crash:
    """``Session.run`` raised instead of ending with a TurnDone (a bug, or a LociError)."""

    error: Exception


Item = Event | Ask | Crash | None  # None: the worker is done
Post = Callable[[Item], None]


class AcpApprover:
    """The session's approver: asks the editor through the prompt under way."""

    can_confirm = True  # a person answers, so risky code may be confirmed

    def __init__(self) -> None:
        self._post: Post | None = None
        self._lock = threading.Lock()
        self._waiting: set[Future[Decision]] = set()

    def bind(self, post: Post | None) -> None:
        """Ask through ``post`` from now on; ``None`` (the prompt is over) refuses any
        question still waiting, so the worker never waits for nobody."""
        with self._lock:
            self._post = post
            waiting, self._waiting = (self._waiting, set()) if post is None else (set(), set())
        for answer in waiting:
            if not answer.done():
                answer.set_result(Decision(False, "user", reason="the request was cancelled"))

    def __call__(self, block: CodeBlock) -> Decision:
        return self._ask(block, "")

    def confirm_risk(self, block: CodeBlock, reason: str) -> Decision:
        return self._ask(block, reason)

    def _ask(self, block: CodeBlock, risk: str) -> Decision:
        ask = Ask(block, risk)
        with self._lock:
            if self._post is None:
                return decision(None, block)
            self._waiting.add(ask.answer)
            self._post(ask)
        try:
            return ask.answer.result()
        finally:
            with self._lock:
                self._waiting.discard(ask.answer)


def _work(session: Session, text: str, post: Post) -> None:
    try:
        for event in session.run(text):
            post(event)
    except Exception as exc:  # a bug must still end the prompt
        post(Crash(exc))
    finally:
        post(None)


class PromptTurn:
    """Runs one request of ``session`` and streams it to the editor as session updates."""

    def __init__(
        self,
        conn: Client,
        session_id: str,
        session: Session,
        approver: AcpApprover,
        cancelled: asyncio.Event,
        on_always: Callable[[], Awaitable[None]],
    ) -> None:
        self.conn = conn
        self.session_id = session_id
        self.session = session
        self.approver = approver
        self.cancelled = cancelled
        self.on_always = on_always  # tells the editor auto-run is now on
        self.updates = TurnUpdates()
        self.worker: threading.Thread | None = None

    async def run(self, text: str) -> StopReason:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Item] = asyncio.Queue()

        def post(item: Item) -> None:
            with contextlib.suppress(RuntimeError):  # the loop is gone: nobody to tell
                loop.call_soon_threadsafe(queue.put_nowait, item)

        self.approver.bind(post)
        self.worker = threading.Thread(
            target=_work, args=(self.session, text, post), name="loci-acp-turn", daemon=True
        )
        self.worker.start()
        try:
            done, error = await self._stream(queue)
        except BaseException:  # the connection is closing or gone: stop the turn too
            self.session.interrupt()
            raise
        finally:
            self.approver.bind(None)
        return self._stop_reason(done, error)

    async def _stream(self, queue: asyncio.Queue[Item]) -> tuple[TurnDone | None, str]:
        """Send the worker's items on until it is done; the TurnDone and the last error."""
        done: TurnDone | None = None
        error = ""
        while (item := await queue.get()) is not None:
            if isinstance(item, Ask):
                await self._ask(item)
                continue
            if isinstance(item, Crash):
                exc = item.error
                raise (to_request_error(exc) if isinstance(exc, LociError) else exc)
            if isinstance(item, Notice) and item.level == "error":
                error = item.message  # the prompt fails with it, below
                continue
            if isinstance(item, TurnStart) and self.cancelled.is_set():
                self.session.interrupt()  # cancelled before the turn began (which clears it)
            if isinstance(item, TurnDone):
                done = item
            for update in self.updates.of(item):
                await self.conn.session_update(self.session_id, update)
        return done, error

    def _stop_reason(self, done: TurnDone | None, error: str) -> StopReason:
        if self.cancelled.is_set():
            return "cancelled"
        if done is None or done.status == "error":
            raise turn_failed(error or (done.message if done else ""))
        return STOP_REASONS.get(done.status, "end_turn")

    async def _ask(self, ask: Ask) -> None:
        view = self.updates.views.get(ask.block.id)
        if view is None or self.cancelled.is_set():
            ask.answer.set_result(decision(None, ask.block))
            return
        request = asyncio.ensure_future(
            self.conn.request_permission(
                session_id=self.session_id,
                tool_call=view.permission(ask.risk),
                options=permission_options(bool(ask.risk)),
            )
        )
        stop = asyncio.ensure_future(self.cancelled.wait())
        try:
            await asyncio.wait({request, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        chosen = _chosen(request)
        if chosen == ALWAYS:
            await self.on_always()
        if not ask.answer.done():
            ask.answer.set_result(decision(chosen, ask.block))


def _chosen(request: asyncio.Future[RequestPermissionResponse]) -> str | None:
    """The option picked, or ``None`` if the request was cancelled, failed or is unanswered
    (it is then cancelled)."""
    if not request.done():
        request.cancel()
        return None
    if request.cancelled() or request.exception() is not None:
        return None
    outcome = request.result().outcome
    return outcome.option_id if isinstance(outcome, AllowedOutcome) else None
