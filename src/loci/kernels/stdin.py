"""Jupyter's stdin channel: a block's ``input_request`` in, the person's ``input_reply`` out.

A block runs with ``allow_stdin=True``, so ``input()`` and ``getpass`` in ipykernel send an
``input_request`` (``prompt``, ``password``) on the stdin channel and wait for the reply.
``next_request`` turns the one of the running block into an ``InputRequest`` (None while
there is none); ``reply`` answers it: the text typed, or ``EOF`` (ipykernel raises
``EOFError`` for it). A block interrupted while it waits raises ``KeyboardInterrupt`` in the
kernel, so Stop and timeouts need nothing from here.
"""

from __future__ import annotations

import contextlib
import queue
from collections.abc import Mapping
from typing import Any

from ..events import InputRequest

__all__ = ["EOF", "drain", "next_request", "reply", "to_request"]

EOF = "\x04"  # the input_reply value ipykernel reads as end-of-file


def to_request(msg: Mapping[str, Any], msg_id: str | None) -> InputRequest | None:
    """The InputRequest for one stdin message, if it is the block ``msg_id``'s read."""
    if msg.get("msg_type") != "input_request":
        return None
    if msg.get("parent_header", {}).get("msg_id") != msg_id:
        return None
    content: Mapping[str, Any] = msg.get("content") or {}
    return InputRequest(str(content.get("prompt", "")), bool(content.get("password", False)))


async def next_request(kc: Any, msg_id: str | None) -> InputRequest | None:
    """The block's waiting read, if one has arrived (other stdin messages are dropped)."""
    while True:
        try:
            msg = await kc.get_stdin_msg(timeout=0)
        except queue.Empty:
            return None
        request = to_request(msg, msg_id)
        if request is not None:
            return request


async def drain(kc: Any) -> None:
    """Drop the reads of earlier blocks (one interrupted while it waited leaves its own)."""
    with contextlib.suppress(queue.Empty):
        while True:
            await kc.get_stdin_msg(timeout=0)


async def reply(kc: Any, text: str | None) -> None:
    """Answer the waiting read: ``text`` (one line, without its newline), None: end-of-file."""
    kc.input(EOF if text is None else text)
