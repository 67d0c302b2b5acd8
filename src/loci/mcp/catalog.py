"""The MCP tools of a session by their Python names, and what a model is told of them.

Each tool is reached as ``server.tool`` (``loci.pycall``'s names for the server in
config.toml and for the tool), in the kernel and in an approved block alike; a tool-call model
is also offered it as the function ``server__tool`` with the tool's own JSON schema. Two
names that come out the same get a number (``get_x``, ``get_x_2``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ..context import clip
from ..messages import ToolSpec
from ..pycall import function_name, server_name, tool_name
from .client import ServerTool

SUMMARY_CHARS = 120  # of a tool's description in the system prompt
DESCRIPTION_CHARS = 1024  # of a tool's description offered to a tool-call model


def _unique(name: str, taken: set[str]) -> str:
    found, n = name, 1
    while found in taken:
        n += 1
        found = f"{name}_{n}"
    taken.add(found)
    return found


def server_names(servers: Iterable[str]) -> dict[str, str]:
    """Each server's name in config.toml → its Python name (unique)."""
    taken: set[str] = set()
    return {s: _unique(server_name(s), taken) for s in servers}


@dataclass(frozen=True)
class Entry:
    """One tool: its Python names and its server's description of it."""

    server: str  # the server's Python name
    name: str  # the tool's Python name
    tool: ServerTool

    @property
    def qualname(self) -> str:
        return f"{self.server}.{self.name}"

    @property
    def parameters(self) -> list[str]:
        props = self.tool.schema.get("properties")
        return list(props) if isinstance(props, dict) else []

    def signature(self) -> str:
        """``weather.forecast(city, days=3)``: required arguments bare, others with their
        default (or ``None``)."""
        props = self.tool.schema.get("properties") or {}
        required = set(self.tool.schema.get("required") or ())
        shown = []
        for key in self.parameters:
            if key in required:
                shown.append(key)
            else:
                default = props[key].get("default") if isinstance(props[key], dict) else None
                shown.append(f"{key}={default!r}")
        return f"{self.qualname}({', '.join(shown)})"

    def summary(self) -> str:
        """The description's first line, cut to ``SUMMARY_CHARS``."""
        lines = self.tool.description.strip().splitlines()
        line = lines[0].strip() if lines else ""
        return clip(line, SUMMARY_CHARS)

    def line(self) -> str:
        """The system prompt's line: its call with the argument names, and what it does."""
        return f"- {self.signature()}: {self.summary()}".rstrip(": ")

    def spec(self) -> ToolSpec | None:
        """The tool as a tool-call model is offered it; None when its name is too long."""
        name = function_name(self.server, self.name)
        if not name:
            return None
        description = self.tool.description[:DESCRIPTION_CHARS] or self.summary()
        return ToolSpec(name, description, self.tool.schema)

    def arguments(self, args: Sequence[Any], kwargs: dict[str, Any]) -> dict[str, Any]:
        """Positional arguments named in the schema's order, then the keyword ones; a
        ValueError saying what is wrong when they do not fit."""
        names = self.parameters
        if len(args) > len(names):
            raise ValueError(f"{self.qualname} takes at most {len(names)} positional arguments")
        named = dict(zip(names, args, strict=False))  # at most as many args as names
        twice = sorted(set(named) & set(kwargs))
        if twice:
            raise ValueError(f"{self.qualname} got {', '.join(twice)} twice")
        return {**named, **kwargs}


class Catalog:
    """The tools of the servers that started, by Python name."""

    def __init__(self, tools: Sequence[ServerTool], servers: dict[str, str]) -> None:
        self.entries: list[Entry] = []
        taken: dict[str, set[str]] = {}
        for tool in tools:
            server = servers.get(tool.server, server_name(tool.server))
            name = _unique(tool_name(tool.name), taken.setdefault(server, set()))
            self.entries.append(Entry(server, name, tool))
        self._by_name = {(e.server, e.name): e for e in self.entries}

    def __bool__(self) -> bool:
        return bool(self.entries)

    def find(self, server: str, name: str) -> Entry | None:
        return self._by_name.get((server, name))

    def of(self, server: str) -> list[Entry]:
        return [e for e in self.entries if e.server == server]

    def unknown(self, server: str, name: str) -> str:
        """Why ``server.name`` is no tool, and what there is."""
        there = self.of(server)
        if not there:
            known = sorted({e.server for e in self.entries})
            return f"there is no MCP server {server!r} (there are: {', '.join(known) or 'none'})"
        names = ", ".join(e.name for e in there)
        return f"the MCP server {server!r} has no tool {name!r} (it has: {names})"
