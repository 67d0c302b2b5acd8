"""``serve``: the agent on this process's stdin and stdout, until the editor closes them.

The protocol gets the two descriptors to itself: they are moved to new ones, and 0 and 1 then
read ``/dev/null`` and write to stderr, so a kernel, a library or a stray ``print`` that reads
or writes there cannot corrupt the JSON-RPC stream (an editor shows the agent's stderr as its
log). On the way out, every session is closed: kernels shut down, models released.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import Sequence
from typing import BinaryIO, cast

from acp import Agent, run_agent

from ..config import Settings
from .agent import LociAgent

BUFFER_BYTES = 50 * 1024 * 1024  # a line of JSON-RPC may carry an embedded file


def serve(settings: Settings, *, offered: Sequence[str] = ()) -> None:
    agent = LociAgent(settings, offered=offered)
    stdin, stdout = _protocol_pipes()
    try:
        asyncio.run(_serve(agent, stdin, stdout))
    finally:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGHUP):  # a second one must not cut closing
                signal.signal(sig, signal.SIG_IGN)  # short, leaving kernels behind
        agent.close()


def _protocol_pipes() -> tuple[BinaryIO, BinaryIO]:
    """The protocol's own stdin and stdout; fds 0 and 1 then lead nowhere harmful."""
    stdin = os.fdopen(os.dup(0), "rb", buffering=0)
    stdout = os.fdopen(os.dup(1), "wb", buffering=0)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)
    return stdin, stdout


async def _serve(agent: LociAgent, stdin: BinaryIO, stdout: BinaryIO) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=BUFFER_BYTES)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), stdin)
    transport, protocol = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin, stdout)
    writer = asyncio.StreamWriter(transport, protocol, reader, loop)
    # the SDK routes only the methods an agent defines; the others answer "method not found"
    await run_agent(cast(Agent, agent), writer, reader)
