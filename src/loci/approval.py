"""Who decides whether a code block runs.

The session asks an ``Approver`` about every ``CodeBlock`` before running it; the approver
answers with a ``Decision``. Whatever it returns, the session runs exactly ``Decision.code``
and records who decided. Front ends supply their own approver (the terminal asks
``Run? [y]es [n]o [e]dit [a]lways``); the library ships the non-interactive ones.

Risky code (``loci.risk``: deleting outside the workspace, credentials, system changes, the
network piped into a shell) is never run on auto-run alone: the policy asks a person, showing
the reason; when nobody can confirm (an approver without ``confirm_risk`` and not marked
``can_confirm``: ``--json``, piped stdin, an API without a client) it is refused, and the
reason goes to the model.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

from .events import CodeBlock
from .risk import assess, summary


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Decision:
    approved: bool
    by: Literal["user", "auto", "policy"]
    code: str = ""  # what to run; "" means the block's code as shown
    reason: str = ""
    always: bool = False  # "always": approve this and every later block of the conversation
    risk: str = ""  # why the policy thought the block risky ("" when it did not)


class Approver(Protocol):
    def __call__(self, block: CodeBlock) -> Decision: ...


@runtime_checkable
class RiskConfirmer(Protocol):
    """An approver that a person answers, and that can show why a block is risky."""

    def confirm_risk(self, block: CodeBlock, reason: str) -> Decision: ...


def auto_approve(block: CodeBlock) -> Decision:
    return Decision(True, "auto", block.code)


def deny_all(block: CodeBlock) -> Decision:
    return Decision(
        False, "policy", block.code, reason="nobody is there to approve it (use auto-run)"
    )


class ApprovalPolicy:
    """The session's one place for deciding whether a block runs.

    ``auto_run`` approves without asking, except risky code; otherwise the ``approver`` (a
    person, through a front end) decides, and answering "always" turns ``auto_run`` on for the
    rest of the conversation. With no approver nothing runs. ``can_confirm`` says whether a
    person answers the approver (default: whether it has ``confirm_risk``); ``workspace`` and
    ``home`` tell the risk rules what "outside" means; ``exposed`` what the user showed the
    code on purpose.
    """

    def __init__(
        self,
        approver: Approver | None,
        *,
        auto_run: bool,
        can_confirm: bool | None = None,
        workspace: Path | None = None,
        home: Path | None = None,
        exposed: tuple[Path, ...] = (),
    ) -> None:
        self.approver = approver
        self.auto_run = auto_run
        if can_confirm is None:
            can_confirm = isinstance(approver, RiskConfirmer) or bool(
                getattr(approver, "can_confirm", False)
            )
        self.can_confirm = can_confirm
        self.workspace = workspace or Path.cwd()
        self.home = home
        self.exposed = exposed

    def risk(self, block: CodeBlock) -> str:
        """Why ``block`` needs a person ("" if it does not)."""
        found = assess(
            block.language, block.code, workspace=self.workspace, home=self.home,
            exposed=self.exposed,
        )  # fmt: skip
        return summary(found)

    def decide(self, block: CodeBlock) -> Decision:
        risk = self.risk(block)
        if risk:
            return self._decide_risky(block, risk)
        if self.auto_run:
            return auto_approve(block)
        decision = (self.approver or deny_all)(block)
        if decision.always:
            self.auto_run = True
        return decision

    def _decide_risky(self, block: CodeBlock, risk: str) -> Decision:
        if self.approver is None or not self.can_confirm:
            reason = (
                f"refused by policy: this code {risk}, and nobody is there to confirm it. "
                "Do it without that, or ask the user to run it themselves"
            )
            return Decision(False, "policy", block.code, reason=reason, risk=risk)
        if isinstance(self.approver, RiskConfirmer):
            decision = self.approver.confirm_risk(block, risk)
        else:
            decision = self.approver(block)
        if decision.always and not self.auto_run:
            self.auto_run = True  # "always" turns on auto-run; risky code still asks
        return replace(decision, risk=risk, always=False)
