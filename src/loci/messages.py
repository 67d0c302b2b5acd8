"""Conversation value types: what is sent to a model and what is stored.

A conversation is a list of ``Message``. An assistant message may carry ``tool_calls`` (code the
model asked to run through a native tool call); the result of each run comes back as a
``tool`` message with the matching ``tool_call_id``. A call to an MCP server's tool is a
``ToolCall`` of language ``mcp`` whose code is the call's Python form (``loci.pycall``); it
gives the APIs its function form (``tool_name``, ``arguments``). Models without native tool
calls get code inside fenced blocks and results as ``user`` messages (see ``ToolCall.fenced``
and the model adapters, which do that conversion). ``images`` names the saved image files a
message shows (a run's plots, a request's attached pictures); only models that can see are
sent them (``loci.models.images``), the others read their paths in the text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from .pycall import function_name, parse_call

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
MCP_LANGUAGE = "mcp"  # a call to an MCP server's tool (its code: the call's Python form)


@dataclass(frozen=True)
class ToolSpec:
    """A tool offered to a model: its name, what it does, its arguments' JSON schema."""

    name: str
    description: str
    parameters: dict[str, Any]


EXECUTE = ToolSpec(TOOL_NAME, TOOL_DESCRIPTION, TOOL_SCHEMA)


@dataclass(frozen=True)
class ToolCall:
    id: str
    language: str
    code: str

    def tool_name(self) -> str:
        """The function the model called: ``execute``, or an MCP tool's ``server__tool``."""
        if self.language == MCP_LANGUAGE:
            try:
                call = parse_call(self.code)
            except ValueError:
                return TOOL_NAME
            return function_name(call.server, call.tool) or TOOL_NAME
        return TOOL_NAME

    def arguments(self) -> dict[str, Any]:
        """The arguments of ``tool_name``, as the model's API carries them."""
        if self.tool_name() != TOOL_NAME:
            return parse_call(self.code).kwargs
        return {"language": self.language, "code": self.code}

    def arguments_json(self) -> str:
        return json.dumps(self.arguments())

    def fenced(self) -> str:
        """The call as a fenced block (for models without tool calls): an MCP call is the
        Python that makes it, which the Python kernel runs too."""
        language = "python" if self.language == MCP_LANGUAGE else self.language
        return f"```{language}\n{self.code}\n```"


@dataclass(frozen=True)
class Message:
    role: Role
    content: str
    tool_calls: tuple[ToolCall, ...] = field(default_factory=tuple)
    tool_call_id: str = ""
    origin: Origin | None = field(default=None, compare=False)  # None: as the role implies
    images: tuple[str, ...] = ()  # saved image files it shows (``loci.models.images``)

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
            "images": list(self.images),
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
            images=tuple(d.get("images") or ()),
        )
