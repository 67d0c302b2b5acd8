"""An editor for ``loci acp``, on the SDK's client side: ``Editor`` records every session
update and answers permission requests from ``answers`` (an option id, ``"cancelled"``, or
``WAIT``: never answer, as a person who walked away). The ``editor`` fixture (conftest.py)
spawns the agent over stdio with one.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from acp.schema import AllowedOutcome, DeniedOutcome, RequestPermissionResponse

SRC = Path(__file__).resolve().parents[2] / "src"
WAIT = "wait"
STEP_S = 60.0  # the most any one request may take here
QUIET_S = 0.2  # an agent that sent nothing for this long has sent all it had
CLOSE_S = 20.0  # how long the agent may take to shut its kernels down once stdin closes


class Editor:
    """The client side: what the agent sent, and how permission requests are answered."""

    def __init__(self) -> None:
        self.updates: list[tuple[str, Any]] = []
        self.asked: list[Any] = []  # the permission requests' tool calls, with their options
        self.answers: list[str] = []
        self.conn: Any = None
        self.init: Any = None  # the agent's answer to initialize
        self.process: Any = None
        self.changed = asyncio.Event()

    async def session_update(self, session_id: str, update: Any, **kwargs: Any) -> None:
        self.updates.append((session_id, update))
        self.changed.set()

    async def request_permission(
        self, options: list[Any], session_id: str, tool_call: Any, **kwargs: Any
    ) -> RequestPermissionResponse:
        self.asked.append((tool_call, [o.option_id for o in options]))
        self.changed.set()
        answer = self.answers.pop(0) if self.answers else WAIT
        if answer == WAIT:
            await asyncio.Event().wait()  # cancelled when the agent gives up on it
        if answer == "cancelled":
            return RequestPermissionResponse(outcome=DeniedOutcome(outcome="cancelled"))
        return RequestPermissionResponse(
            outcome=AllowedOutcome(outcome="selected", option_id=answer)
        )

    # -- what was sent ---------------------------------------------------------------------
    def of(self, session_id: str, kind: str) -> list[Any]:
        return [u for s, u in self.updates if s == session_id and u.session_update == kind]

    def text(self, session_id: str, kind: str = "agent_message_chunk") -> str:
        return "".join(u.content.text for u in self.of(session_id, kind))

    def tool_calls(self, session_id: str) -> dict[str, dict[str, Any]]:
        """Each tool call as the editor would show it: the start, then every update on top."""
        calls: dict[str, dict[str, Any]] = {}
        for s, u in self.updates:
            if s != session_id or u.session_update not in ("tool_call", "tool_call_update"):
                continue
            shown = calls.setdefault(u.tool_call_id, {})
            shown.update({k: v for k, v in u.model_dump().items() if v is not None})
        return calls

    async def settled(self, quiet: float = QUIET_S) -> None:
        """Wait until no update has come for ``quiet`` seconds. The agent sends a turn's
        updates before its answer, but the SDK's client may hand notifications over after
        the answer (0.11 queues them), so a test reads what was sent once it settles."""
        while True:
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), quiet)
            except asyncio.TimeoutError:
                return

    async def wait_for(self, condition: Callable[[], bool], timeout: float = STEP_S) -> None:
        async def wait() -> None:
            while not condition():
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(wait(), timeout)


def shown_text(call: dict[str, Any]) -> str:
    """A tool call's content, as text."""
    return "\n".join(c["content"].get("text", "") for c in call.get("content") or [])


Start = Callable[..., contextlib.AbstractAsyncContextManager[Editor]]
