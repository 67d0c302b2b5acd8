"""What the store gives back: frozen records of conversations, messages and executions.

``ConversationRecord.items`` holds a conversation's messages and executions in the order they
happened (``seq``); ``compactions`` what a model was sent in place of older ones (the items
stay whole). Every record has ``to_dict()``, the JSON form ``loci show --json`` and
``loci history --json`` print; times are unix timestamps (seconds, float).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from loci.events import ExecStatus, Grounding, Output
from loci.messages import Message, Role

RecordStatus = ExecStatus | Literal["running"]
TITLE_CHARS = 80  # a conversation is titled with the start of its first request


def title_of(text: str) -> str:
    """A conversation's title, from its first request (or block): the first line, cut."""
    lines = text.strip().splitlines()
    return lines[0][:TITLE_CHARS] if lines else ""


@dataclass(frozen=True)
class ConversationSummary:
    id: int
    title: str
    model: str
    workdir: str
    created: float
    updated: float
    message_count: int
    prompt_tokens: int
    completion_tokens: int
    parent_id: int | None = None  # a branch: the conversation it was branched from
    branched_at_request: int | None = None  # … and the number of the request it replaced

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def grounding_dict(grounding: Grounding) -> dict[str, list[str]]:
    """A grounding as stored (``messages.grounding``) and as ``to_dict`` shows it."""
    return {"supported": list(grounding.supported), "unsupported": list(grounding.unsupported)}


@dataclass(frozen=True)
class MessageRecord:
    """A stored message: the ``Message`` plus where and when it sits in the conversation."""

    id: int
    seq: int
    created: float
    message: Message
    grounding: Grounding | None = None  # a final answer's numbers, checked against outputs
    set_aside: bool = False  # of an attempt the vote did not keep (``loci.vote``)
    kind: Literal["message"] = "message"

    @property
    def role(self) -> Role:
        return self.message.role

    @property
    def content(self) -> str:
        return self.message.content

    def to_dict(self) -> dict[str, Any]:
        d = {
            "kind": self.kind,
            "id": self.id,
            "seq": self.seq,
            "created": self.created,
            **self.message.to_dict(),
        }
        if self.grounding is not None:
            d["grounding"] = grounding_dict(self.grounding)
        if self.set_aside:
            d["set_aside"] = True
        return d


@dataclass(frozen=True)
class ExecutionRecord:
    """A code block that ran (or was refused), with every output it produced, in order.

    ``status`` is ``"running"`` until the execution finished; one that stays so was cut short
    (the process died). ``duration`` is ``None`` until then. The audit fields: ``sandbox`` (the
    confinement in force), ``risk`` (why the policy stopped it for a person), ``output_bytes``,
    ``truncated`` (the stored output was cut) and ``limit_hit`` (which limit stopped it).
    """

    id: int
    seq: int
    block_id: str
    language: str
    code: str
    approved_by: str
    sandbox: str
    status: RecordStatus
    started: float
    duration: float | None
    exit_code: int | None
    error_name: str
    error_value: str
    message: str
    files: tuple[str, ...]
    outputs: tuple[Output, ...]
    risk: str = ""
    output_bytes: int = 0
    truncated: bool = False
    limit_hit: str = ""
    kind: Literal["execution"] = "execution"

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["files"] = list(self.files)
        d["outputs"] = [dataclasses.asdict(o) for o in self.outputs]
        return d


Item = MessageRecord | ExecutionRecord


@dataclass(frozen=True)
class CompactionRecord:
    """What a model was sent instead of the items with seq ``first_seq``..``last_seq`` (the
    ``turns`` requests they hold): ``text``, made by ``method`` ("digest") for ``reason``
    ("window": they no longer fit; "asked": ``%compact``). ``id`` 0: not stored (a preview)."""

    id: int
    first_seq: int
    last_seq: int
    turns: int
    method: str
    reason: str
    text: str
    created: float

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class ConversationRecord:
    """A whole conversation: its summary and its items in the order they happened."""

    summary: ConversationSummary
    items: tuple[Item, ...]
    instructions: str = ""  # the project's AGENTS.md as the model was given it
    instructions_source: str = ""  # the file(s) it came from
    compactions: tuple[CompactionRecord, ...] = ()  # what the model saw of older turns

    @property
    def id(self) -> int:
        return self.summary.id

    @property
    def title(self) -> str:
        return self.summary.title

    @property
    def messages(self) -> list[Message]:
        return [i.message for i in self.items if isinstance(i, MessageRecord)]

    @property
    def executions(self) -> list[ExecutionRecord]:
        return [i for i in self.items if isinstance(i, ExecutionRecord)]

    @property
    def requests(self) -> list[MessageRecord]:
        """What the person wrote, in order: request N (as ``%edit N`` and the branch API
        count) is ``requests[N - 1]``."""
        return [
            i
            for i in self.items
            if isinstance(i, MessageRecord) and i.role == "user" and i.message.by == "person"
        ]

    def to_dict(self) -> dict[str, Any]:
        numbers = {r.seq: n for n, r in enumerate(self.requests, 1)}
        items = []
        for item in self.items:
            d = item.to_dict()
            if item.seq in numbers and isinstance(item, MessageRecord):
                d["request"] = numbers[item.seq]  # the number to branch from (the API)
            items.append(d)
        return {
            **self.summary.to_dict(),
            "instructions": self.instructions,
            "instructions_source": self.instructions_source,
            "items": items,
            "compactions": [c.to_dict() for c in self.compactions],
        }
