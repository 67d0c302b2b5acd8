"""Who decides whether a code block runs.

The session asks an ``Approver`` about every ``CodeBlock`` before running it; the approver
answers with a ``Decision``. Whatever it returns, the session runs exactly ``Decision.code``
and records who decided. Front ends supply their own approver (the terminal asks
``Run? [y]es [n]o [e]dit [a]lways``); the library ships the non-interactive ones.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal, Protocol

from .events import CodeBlock


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Decision:
    approved: bool
    by: Literal["user", "auto", "policy"]
    code: str = ""  # what to run; "" means the block's code as shown
    reason: str = ""
    always: bool = False  # "always": approve this and every later block of the conversation


class Approver(Protocol):
    def __call__(self, block: CodeBlock) -> Decision: ...


def auto_approve(block: CodeBlock) -> Decision:
    return Decision(True, "auto", block.code)


def deny_all(block: CodeBlock) -> Decision:
    return Decision(
        False, "policy", block.code, reason="nobody is there to approve it (use auto-run)"
    )


class ApprovalPolicy:
    """The session's one place for deciding whether a block runs.

    ``auto_run`` approves without asking; otherwise the ``approver`` (a person, through a
    front end) decides, and answering "always" turns ``auto_run`` on for the rest of the
    conversation. With no approver nothing runs.
    """

    def __init__(self, approver: Approver | None, *, auto_run: bool) -> None:
        self.approver = approver
        self.auto_run = auto_run

    def decide(self, block: CodeBlock) -> Decision:
        if self.auto_run:
            return auto_approve(block)
        decision = (self.approver or deny_all)(block)
        if decision.always:
            self.auto_run = True
        return decision
