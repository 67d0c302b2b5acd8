"""loci's errors as ACP (JSON-RPC) errors, translated once: every handler of the agent runs
inside ``acp_errors()``.

    NotFoundError                          -32002  resource not found (no such conversation)
    ConfigError, ModelNotFoundError        -32602  invalid params (a bad cwd, mode or model)
    ApprovalError, TurnRunningError        -32600  invalid request (not now)
    every other LociError                  -32603  internal error

The error's message is loci's own one line, so an editor shows what a terminal would; its
``data`` names the loci error class. A turn that ends with status ``error`` (a model that
failed mid-turn) fails its prompt the same way, through ``turn_failed``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from acp import RequestError

from ..errors import (
    ApprovalError,
    ConfigError,
    LociError,
    ModelNotFoundError,
    NotFoundError,
    TurnRunningError,
)

RESOURCE_NOT_FOUND = -32002
INVALID_PARAMS = -32602
INVALID_REQUEST = -32600
INTERNAL_ERROR = -32603

CODES: dict[type[LociError], int] = {
    NotFoundError: RESOURCE_NOT_FOUND,
    ConfigError: INVALID_PARAMS,
    ModelNotFoundError: INVALID_PARAMS,
    ApprovalError: INVALID_REQUEST,
    TurnRunningError: INVALID_REQUEST,
}


def to_request_error(exc: LociError) -> RequestError:
    """The ACP error for ``exc``: the code of its nearest class in ``CODES``."""
    code = next((CODES[c] for c in type(exc).__mro__ if c in CODES), INTERNAL_ERROR)
    return RequestError(code, exc.message, {"error": type(exc).__name__})


@contextmanager
def acp_errors() -> Iterator[None]:
    """Turn a LociError raised inside into the matching RequestError."""
    try:
        yield
    except LociError as exc:
        raise to_request_error(exc) from exc


def turn_failed(message: str) -> RequestError:
    """The error a prompt ends with when its turn failed (the model's error, say)."""
    return RequestError(INTERNAL_ERROR, message or "the request failed", {"error": "TurnFailed"})
