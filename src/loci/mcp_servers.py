"""The ``[mcp_servers.NAME]`` tables of config.toml: each a server loci starts (stdio) or
reaches (streamable HTTP), checked key by key, every mistake a ``ConfigError`` naming it.

Plain data, no MCP SDK: ``loci.config`` reads these tables whether the ``mcp`` extra is
installed or not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import ConfigError

MCP_TIMEOUT = 60.0  # seconds per call to an MCP server's tool, unless its table says


@dataclass(frozen=True)
class McpServer:
    """One ``[mcp_servers.NAME]`` table: a server loci starts (``command``, ``args``,
    ``env``: stdio) or one it reaches at ``url`` (streamable HTTP, with ``headers``). Tables
    are kept as pairs, so that settings stay immutable (and hashable)."""

    name: str
    command: str = ""
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    url: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    timeout: float = MCP_TIMEOUT  # seconds per tool call
    enabled: bool = True


_MCP_KEYS: dict[str, type | tuple[type, ...]] = {
    "command": str, "args": list, "env": dict, "url": str, "headers": dict,
    "timeout": (int, float), "enabled": bool, "type": str,
}  # fmt: skip
_MCP_NEEDS = "command (a program loci starts) or url (a streamable HTTP endpoint)"


def _mcp_checked(where: str, table: Any) -> dict[str, Any]:
    """``table`` when its keys are known and of the right types; else a ConfigError."""
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table: [{where}] with {_MCP_NEEDS}")
    for key, value in table.items():
        if key not in _MCP_KEYS:
            raise ConfigError(f"{where}: unknown key {key!r} (known: {', '.join(_MCP_KEYS)})")
        kind = _MCP_KEYS[key]
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            raise ConfigError(f"{where}.{key} has the wrong type ({type(value).__name__})")
    strings = [*table.get("args", ()), *table.get("env", {}).values()]
    if not all(isinstance(v, str) for v in [*strings, *table.get("headers", {}).values()]):
        raise ConfigError(f"{where}: args, env and headers hold strings only")
    return table


def _mcp_server(name: str, raw: Any) -> McpServer:
    where = f"mcp_servers.{name}"
    table = _mcp_checked(where, raw)
    command, url = table.get("command", "").strip(), table.get("url", "").strip()
    if command and url:
        raise ConfigError(f"{where} needs {_MCP_NEEDS}, not both")
    if not command and not url:
        raise ConfigError(f"{where} needs {_MCP_NEEDS}")
    if url and not _is_url(url):
        raise ConfigError(f"{where}.url must be an http:// or https:// URL, got {url!r}")
    kind = table.get("type", "stdio" if command else "http")
    if kind not in (("stdio",) if command else ("http", "streamable-http")):
        raise ConfigError(
            f"{where}.type is {kind!r}: loci speaks stdio (with command) and streamable HTTP "
            "(with url), not SSE"
        )
    timeout = table.get("timeout", MCP_TIMEOUT)
    if timeout <= 0:
        raise ConfigError(f"{where}.timeout must be > 0 seconds, got {timeout:g}")
    return McpServer(
        name, command, tuple(table.get("args", ())), tuple(table.get("env", {}).items()), url,
        tuple(table.get("headers", {}).items()), float(timeout), table.get("enabled", True),
    )  # fmt: skip


def mcp_servers(raw: dict[str, Any]) -> tuple[McpServer, ...]:
    """The servers of config.toml's ``mcp_servers`` table, in order."""
    return tuple(_mcp_server(name, table) for name, table in raw.items())


def _is_url(value: str) -> bool:
    return value.startswith(("http://", "https://"))
