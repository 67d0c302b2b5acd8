"""The MCP servers an editor passes with a session (ACP ``mcpServers``), as loci's own.

An ACP client may name MCP servers for each session: stdio ones (``command``, ``args``,
``env``) and, since loci declares ``mcpCapabilities.http``, streamable HTTP ones (``url``,
``headers``). They join the ``[mcp_servers.NAME]`` tables of config.toml for that session
only (the editor's wins on a shared name) and reach the model like those: as tools for a
tool-calling model, as Python functions in the kernel for every model. SSE servers (a
transport the MCP SDK deprecates) are left out with a note.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from acp.schema import McpServerStdio, SseMcpServer

from ..config import Settings
from ..mcp_servers import McpServer


def from_editor(given: Iterable[Any] | None) -> tuple[tuple[McpServer, ...], list[str]]:
    """loci's form of the servers an editor gave, and a note for each one left out."""
    servers: list[McpServer] = []
    notes: list[str] = []
    for server in given or ():
        if isinstance(server, SseMcpServer):
            notes.append(f"the MCP server {server.name!r} speaks SSE, which loci does not use")
        elif isinstance(server, McpServerStdio):
            env = tuple((v.name, v.value) for v in server.env)
            servers.append(McpServer(server.name, server.command, tuple(server.args), env))
        elif getattr(server, "url", ""):
            headers = tuple((h.name, h.value) for h in getattr(server, "headers", []) or [])
            servers.append(McpServer(server.name, url=server.url, headers=headers))
        else:
            notes.append(
                f"the MCP server {getattr(server, 'name', '?')!r} is of a kind loci cannot reach"
            )
    return tuple(servers), notes


def with_servers(settings: Settings, servers: tuple[McpServer, ...]) -> Settings:
    """``settings`` whose MCP servers are config.toml's plus ``servers`` (these win a name)."""
    if not servers:
        return settings
    names = {s.name for s in servers}
    kept = tuple(s for s in settings.mcp_servers if s.name not in names)
    return replace(settings, mcp_servers=kept + servers)
