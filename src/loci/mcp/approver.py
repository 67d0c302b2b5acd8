"""Asking the person through the MCP client: elicitation, from the session's worker thread.

The session's ``ApprovalPolicy`` decides what needs a person: risky code always, every block
when auto-run is off (``loci mcp --ask``). ``ElicitingApprover`` is its approver: it asks the
person through the tool call being served (``Asker``), with the exact code and, for risky
code, why. A client that did not declare the elicitation capability cannot be asked, so the
block is refused with the reason (the policy itself words the refusal of risky code); it never
runs unasked. Accepting runs the block; declining, cancelling or the call being cancelled do
not. The form has one field, ``always``: run later blocks without asking, as the terminal's
``[a]lways`` does (risky code still asks).
"""

from __future__ import annotations

from typing import Any

import anyio
import anyio.from_thread
from mcp.server.elicitation import AcceptedElicitation
from mcp.server.mcpserver import Context
from mcp.shared.exceptions import MCPError
from pydantic import BaseModel, Field

from ..approval import Decision
from ..events import CodeBlock

NO_ELICITATION = (
    "this MCP client cannot ask the user (it did not declare elicitation), and loci mcp "
    "was told to ask before running code (--ask, or auto_run = false in config.toml)"
)


class Confirm(BaseModel):
    """What the person may add when they accept a block."""

    always: bool = Field(
        default=False,
        description="Run later code of this session without asking (risky code still asks)",
    )


def can_elicit(ctx: Context[Any, Any]) -> bool:
    """Whether the client of this request declared elicitation and can be sent a request."""
    caps = ctx.session.client_capabilities
    return caps is not None and caps.elicitation is not None and ctx.session.can_send_request


def question(block: CodeBlock, risk: str = "") -> str:
    """The message the person reads: the exact code, and why it is risky."""
    warning = f"⚠ This code {risk}. Check it before you accept.\n\n" if risk else ""
    return (
        f"{warning}loci wants to run this {block.language} code:\n\n"
        f"```{block.language}\n{block.code}\n```\n\nAccept to run it, decline to skip it."
    )


class Asker:
    """How one tool call asks its person. ``ask`` is called from the worker thread;
    ``stopped`` (set when the call is cancelled) withdraws a question still open."""

    def __init__(self, ctx: Context[Any, Any]) -> None:
        self.ctx = ctx
        self.can_ask = can_elicit(ctx)
        self.stopped = anyio.Event()

    def ask(self, message: str) -> Decision:
        return anyio.from_thread.run(self._ask, message)

    async def _ask(self, message: str) -> Decision:
        decision = Decision(False, "user", reason="the call was cancelled before the user answered")
        async with anyio.create_task_group() as tg:

            async def answer() -> None:
                nonlocal decision
                decision = await self._elicit(message)
                tg.cancel_scope.cancel()

            async def withdraw() -> None:
                await self.stopped.wait()
                tg.cancel_scope.cancel()

            tg.start_soon(answer)
            tg.start_soon(withdraw)
        return decision

    async def _elicit(self, message: str) -> Decision:
        try:
            result = await self.ctx.elicit(message, Confirm)
        except (MCPError, ValueError) as exc:  # no back-channel, a refusal, a bad answer
            return Decision(False, "policy", reason=f"the client could not ask the user: {exc}")
        if isinstance(result, AcceptedElicitation):
            return Decision(True, "user", always=result.data.always)
        return Decision(False, "user", reason=f"the user said no ({result.action})")


class ElicitingApprover:
    """The approver of an MCP conversation: asks through ``asker``, the call being served
    (set by the conversation for the length of each call)."""

    def __init__(self) -> None:
        self.asker: Asker | None = None

    def __call__(self, block: CodeBlock) -> Decision:
        return self._ask(block, question(block))

    def confirm_risk(self, block: CodeBlock, reason: str) -> Decision:
        return self._ask(block, question(block, reason))

    def _ask(self, block: CodeBlock, message: str) -> Decision:
        asker = self.asker
        if asker is None or not asker.can_ask:
            return Decision(False, "policy", block.code, reason=NO_ELICITATION)
        decision = asker.ask(message)
        return Decision(
            decision.approved, decision.by, block.code, decision.reason, decision.always
        )
