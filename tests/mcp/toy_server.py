"""A small real MCP server for the tests, made with the SDK: ``python toy_server.py``
serves stdio; ``python toy_server.py http PORT`` serves streamable HTTP on 127.0.0.1."""

from __future__ import annotations

import os
import sys
import time

from mcp.server.mcpserver import MCPServer

server = MCPServer("toy")


@server.tool()
def add(a: float, b: float) -> float:
    """Add two numbers.

    A second line the prompt leaves out."""
    return a + b


@server.tool()
def sleep(seconds: float) -> str:
    """Wait for a number of seconds, then say so."""
    time.sleep(seconds)
    return f"slept {seconds:g}s"


@server.tool()
def crash() -> str:
    """End the server's process at once (a server that dies mid-call)."""
    print("toy server: crashing on purpose", file=sys.stderr, flush=True)
    os._exit(3)


@server.tool()
def fail(why: str) -> str:
    """Raise an error inside the tool."""
    raise ValueError(why)


if __name__ == "__main__":
    if sys.argv[1:2] == ["http"]:
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        server.run()
