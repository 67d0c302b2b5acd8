"""Conversation value types: what is sent to a model and what is stored.

A conversation is a list of ``Message``. An assistant message may carry ``tool_calls`` (code the
model asked to run through a native tool call); the result of each run comes back as a
``tool`` message with the matching ``tool_call_id``. Models without native tool calls get code
inside fenced blocks and results as ``user`` messages (see ``ToolCall.fenced`` and the model
adapters, which do that conversion).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["system", "user", "assistant", "tool"]
# Who wrote a message: the person, the model, or loci itself (its prompt, the results of code,
# the notes it adds to a turn). A "user" message may be the person's or one of loci's notes.
Origin = Literal["person", "model", "loci"]
_ORIGIN_OF_ROLE: dict[str, Origin] = {
    "system": "loci", "user": "person", "assistant": "model", "tool": "loci"
}  # fmt: skip

TOOL_NAME = "execute"
TOOL_DESCRIPTION = (
    "Run code on the user's machine in a persistent session and return what it printed."
)
TOOL_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        # not an enum: a kernel gateway can add languages (the system prompt names them)
        "language": {
            "type": "string",
            "description": "python or shell (or another language the instructions name)",
        },
        "code": {"type": "string", "description": "The code to run."},
    },
    "required": ["language", "code"],
}


@dataclass(frozen=True)
class ToolCall:
    id: str
    language: str
    code: str

    def arguments_json(self) -> str:
        return json.dumps({"language": self.language, "code": self.code})

    def fenced(self) -> str:
        return f"```{self.language}\n{self.code}\n```"


@dataclass(frozen=True)
class Message:
    role: Role
    content: str
    tool_calls: tuple[ToolCall, ...] = field(default_factory=tuple)
    tool_call_id: str = ""
    origin: Origin | None = field(default=None, compare=False)  # None: as the role implies

    @property
    def by(self) -> Origin:
        """Who wrote it: ``origin``, or the usual author of its role."""
        return self.origin or _ORIGIN_OF_ROLE[self.role]

    def to_dict(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "origin": self.by,
            "content": self.content,
            "tool_calls": [
                {"id": c.id, "language": c.language, "code": c.code} for c in self.tool_calls
            ],
            "tool_call_id": self.tool_call_id,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Message:
        return cls(
            role=d["role"],
            content=d.get("content") or "",
            tool_calls=tuple(
                ToolCall(c["id"], c["language"], c["code"]) for c in d.get("tool_calls") or ()
            ),
            tool_call_id=d.get("tool_call_id") or "",
            origin=d.get("origin"),
        )
