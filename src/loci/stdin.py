"""Who answers when running code reads stdin (``input()``, ``getpass``, ``read``).

A kernel that can route a read yields an ``InputRequest``; the execution (``loci.execution``)
passes it on to the front end, asks the session's ``InputProvider`` for the answer and hands
that to the kernel (``Kernel.answer``). Like an ``Approver``, the provider is a policy object
given to the ``Session``: the terminal asks at a prompt (hidden for a password), the web
waits for the browser's ``POST /api/conversations/ID/input``. Where nobody can answer
(``--json``, a pipe, MCP, ACP) the default, ``no_input``, answers end-of-file at once, and what
the model reads back says the read got no answer because nobody could answer.

The wait is bounded by the block's own timeout: the execution timeout keeps running while the
code waits (``timeout`` is what is left of it), and the session's Stop (``stop``) ends the
wait. A provider that returns because of either answers nothing: the kernel then interrupts
the block as for any timeout or Stop.

What is typed is kept with the execution as an ``Output`` of stream ``stdin`` (the prompt and
the answer, as a terminal would show them); a password answer is kept as ``MASK``, never as
typed.
"""

from __future__ import annotations

import threading
from typing import Protocol

from .events import InputRequest, Output

__all__ = ["MASK", "NO_ANSWER", "InputProvider", "answered", "no_input"]

MASK = "••••"  # what is stored and shown for a password answer
NO_ANSWER = "[input() got no answer: nobody could answer it here, so it read end-of-file]"


class InputProvider(Protocol):
    """Answers one read: the text typed (without the newline), or None for end-of-file.

    ``stop`` is set when the person stops the request; ``timeout`` is how many seconds the block
    has left (None: no limit). ``can_answer`` says whether anybody is there to answer.
    """

    can_answer: bool

    def __call__(
        self, request: InputRequest, stop: threading.Event, timeout: float | None
    ) -> str | None: ...


class _NoInput:
    """Nobody can answer: every read gets end-of-file at once."""

    can_answer = False

    def __call__(
        self, request: InputRequest, stop: threading.Event, timeout: float | None
    ) -> str | None:
        return None


no_input: InputProvider = _NoInput()


def answered(request: InputRequest, text: str | None, asked: bool = True) -> Output:
    """The ``stdin`` output that records a read and its answer (masked for a password).
    ``asked``: whether anybody could have answered (else the model is told nobody could)."""
    if text is None:
        note = NO_ANSWER if not asked else "[no answer: end-of-file]"
        return Output("stdin", f"{request.prompt}\n{note}\n", text=note,
                      execution_id=request.execution_id)  # fmt: skip
    shown = MASK if request.password else text
    return Output("stdin", f"{request.prompt}{shown}\n", execution_id=request.execution_id)
