"""From a block a model wrote to what may run.

``Gate.admit`` shows the block and its approval (events), sends a refusal to the audit log,
and turns an approved block into an ``ExecutionRequest``: the code as approved (perhaps
edited), who approved it, the risk the rules saw in that code, and what it runs under (the
timeout, the sandbox in force, the redactor of withheld secrets, who answers its
``input()``). A block in a language nothing here runs is refused with the languages that do.
"""

from __future__ import annotations

import threading
from collections.abc import Generator
from dataclasses import dataclass, replace

from .approval import ApprovalPolicy
from .config import Settings
from .events import Approval, CodeBlock, Event
from .execution import ExecutionRequest
from .kernels.pool import KernelPool
from .mcp.tools import McpTools
from .stdin import InputProvider
from .store import Store


@dataclass
class Gate:
    policy: ApprovalPolicy
    store: Store
    kernels: KernelPool
    tools: McpTools
    settings: Settings
    stdin: InputProvider
    cancel: threading.Event  # the session's Stop

    def admit(
        self, conversation_id: int, block: CodeBlock, *, audit: bool = True
    ) -> Generator[Event, None, ExecutionRequest | str]:
        """Yield the block and its approval; return what to run, or why it did not run (a
        refusal goes to the audit log when ``audit``)."""
        yield block
        decision = self.policy.decide(block)
        code = decision.code or block.code
        yield Approval(block.id, decision.approved, decision.by, code, decision.reason)
        risk = decision.risk if code == block.code else self.policy.risk(replace(block, code=code))
        if not decision.approved:
            reason = decision.reason or "the user said no"
            if audit:
                self.store.record_refusal(
                    conversation_id,
                    block_id=block.id,
                    language=block.language,
                    code=code,
                    approved_by=decision.by,
                    reason=reason,
                    risk=risk,
                    sandbox=self.kernels.location,
                )
            return f"[not run: {reason}]"
        if self.kernels.language_of(block.language) is None and not self.tools.runs(block.language):
            known = ", ".join(["python", "shell", *self.kernels.gateway_languages()])
            return f"[not run: {block.language!r} is not a language loci can run; use {known}]"
        return ExecutionRequest(
            conversation_id,
            block.id,
            block.language,
            code,
            decision.by,
            self.cancel,
            timeout=self.settings.timeout,
            risk=risk,
            location=self.kernels.location,
            skip=self.settings.home,
            redact=self.kernels.redactor,
            stdin=self.stdin,
        )


__all__ = ["Gate"]
