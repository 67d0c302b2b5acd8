"""What the SDK adapters (``openai_compat``, ``anthropic``) share: one error translation, the
streaming loop, and the retry of a stream that drops before its first chunk.

Each adapter names its SDK's error classes in an ``SdkErrors`` and says how to open a stream
(``RemoteModel._open``) and fold its items into chunks (a ``Reply``); ``RemoteModel`` does the
rest. Failures before the reply starts are retried by the SDK (``RETRIES`` times, with its own
backoff); a stream that drops before anything was yielded is retried here, after ``BACKOFF_S``
doubling up to ``MAX_BACKOFF_S``; one that drops after chunks were yielded ends with
``ModelUnavailableError`` so the caller keeps what arrived.
"""

from __future__ import annotations

import importlib
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from ..errors import (
    ModelAuthError,
    ModelError,
    ModelNotFoundError,
    ModelResponseError,
    ModelUnavailableError,
)
from ..messages import Message, ToolSpec
from .base import ModelChunk, estimate_tokens

RETRIES = 3  # SDK retries of a failed request, and retries here of a stream dropped early
TIMEOUT_S = 600.0  # the SDK's limit on each network wait of a request (connect, each read)
BACKOFF_S = 0.5  # the wait before the first retry of a dropped stream, doubled each time
MAX_BACKOFF_S = 8.0
DETAIL_CHARS = 300  # the longest error detail quoted in a message

ErrorClasses = tuple[type[BaseException], ...]


# --- errors -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SdkErrors:
    """An SDK's exception classes, grouped by what they mean to loci."""

    root: type[BaseException]  # every error the SDK raises
    api: type[BaseException]  # errors from a request that was sent (also mid-stream)
    auth: ErrorClasses
    not_found: ErrorClasses
    rate_limited: ErrorClasses
    unavailable: ErrorClasses
    refused: ErrorClasses  # the server could not handle the request as sent
    key_hint: str  # how to fix a refused key, e.g. "check ANTHROPIC_API_KEY"


def error_detail(exc: BaseException) -> str:
    """The most useful one-line description of an SDK error."""
    body = getattr(exc, "body", None)
    text = ""
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict):
            text = str(err.get("message") or "")
        elif isinstance(err, str):
            text = err
    if not text:
        text = str(getattr(exc, "message", "") or exc or type(exc).__name__)
    text = " ".join(text.split())
    return text if len(text) <= DETAIL_CHARS else text[: DETAIL_CHARS - 3] + "..."


def translate_error(exc: BaseException, model: str, base_url: str, errors: SdkErrors) -> ModelError:
    """The loci error for an SDK error (a pure function, tested per class)."""
    detail = error_detail(exc)
    if isinstance(exc, errors.auth):
        return ModelAuthError(f"{base_url} refused the API key ({detail}): {errors.key_hint}")
    if isinstance(exc, errors.not_found):
        return ModelNotFoundError(f"model {model!r} not found at {base_url} ({detail})")
    if isinstance(exc, errors.rate_limited):
        return ModelUnavailableError(f"{base_url} is rate limiting requests ({detail})")
    if isinstance(exc, errors.unavailable):
        return ModelUnavailableError(f"cannot get a reply from {base_url} ({detail})")
    if isinstance(exc, errors.refused):
        return ModelResponseError(
            f"{base_url} could not handle the request for {model!r}: {detail}"
        )
    return ModelError(f"error from {base_url} for {model!r}: {detail}")


@contextmanager
def map_errors(errors: SdkErrors, model: str, base_url: str) -> Iterator[None]:
    """Translate the SDK errors raised inside the block into ``loci.errors``."""
    try:
        yield
    except errors.root as exc:
        raise translate_error(exc, model, base_url, errors) from exc


def transport_errors() -> ErrorClasses:
    """Low-level HTTP errors an SDK stream may let through mid-way (httpx or httpx2)."""
    found: list[type[BaseException]] = []
    for name in ("httpx", "httpx2"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        found.append(module.TransportError)
    return tuple(found)


# --- streams ------------------------------------------------------------------------------


class StreamDropped(Exception):
    """Internal: the HTTP stream failed after it had started (before the reply ended)."""

    def __init__(self, cause: BaseException) -> None:
        detail = error_detail(cause)
        if cause.__cause__ is not None:  # the SDK wraps the transport error: name it too
            detail += f": {error_detail(cause.__cause__)}"
        super().__init__(detail)
        self.cause = cause


def iterate(stream: Iterable[Any], cancel: threading.Event, errors: SdkErrors) -> Iterator[Any]:
    """The items of an SDK stream, until it ends or ``cancel`` is set; failures mid-way (a
    dropped connection, an error event) become StreamDropped."""
    failures = (errors.api, *transport_errors())
    iterator = iter(stream)
    while not cancel.is_set():
        try:
            item = next(iterator)
        except StopIteration:
            return
        except failures as exc:
            raise StreamDropped(exc) from exc
        yield item


def retry_dropped(
    attempt: Callable[[], Generator[ModelChunk, None, None]],
    *,
    retries: int,
    delay: float,
    where: str,
) -> Iterator[ModelChunk]:
    """Run ``attempt`` (one streamed request) and retry it, with exponential backoff, while
    it drops before yielding anything; a drop after chunks were yielded is final."""
    last: StreamDropped | None = None
    for n in range(retries + 1):
        if n:
            time.sleep(min(delay * 2 ** (n - 1), MAX_BACKOFF_S))
        yielded = False
        try:
            with closing(attempt()) as chunks:  # closed (with its HTTP stream) if we are
                for chunk in chunks:
                    yielded = True
                    yield chunk
            return
        except StreamDropped as exc:
            if yielded:
                raise ModelUnavailableError(
                    f"connection dropped mid-reply from {where} ({exc})"
                ) from exc.cause
            last = exc
    assert last is not None
    raise ModelUnavailableError(
        f"connection to {where} dropped before the reply started, {retries + 1} times ({last})"
    ) from last.cause


# --- the model ----------------------------------------------------------------------------


class Reply(Protocol):
    """One streamed reply as an adapter folds it."""

    def add(self, item: Any) -> Iterable[ModelChunk]:
        """Fold in one item of the SDK stream; return what to yield now."""
        ...

    def end(self, messages: Sequence[Message], *, cancelled: bool) -> Iterable[ModelChunk]:
        """What to yield once the stream is over (the usage last)."""
        ...


_Remote = TypeVar("_Remote", bound="RemoteModel")


class RemoteModel:
    """A model behind an SDK client: estimated token counts, one streamed request per
    attempt, retried (with backoff) when the connection drops before its first chunk.

    Subclasses say which errors their SDK raises (``_errors``), how to send a request
    (``_open``) and how to fold the stream it returns (``_reply``)."""

    retry_delay: float = BACKOFF_S
    default_base_url: str = ""
    _client: Any  # the SDK client, which owns an HTTP connection pool

    def __init__(
        self, model: str, name: str, context_window: int, tools: bool, max_retries: int
    ) -> None:
        self.model = model
        self.name = name
        self.context_window = context_window
        self.supports_tools = tools
        self.max_retries = max_retries
        self.base_url = self.default_base_url

    def _connect(
        self, client: Callable[..., Any], api_key: str, api_base: str | None, timeout: float
    ) -> None:
        """Create the SDK client; ``base_url`` becomes the one it settled on."""
        self.base_url = api_base or self.default_base_url
        with map_errors(self._errors(), self.model, self.base_url):
            self._client = client(
                api_key=api_key, base_url=api_base, max_retries=self.max_retries, timeout=timeout
            )
        self.base_url = str(self._client.base_url).rstrip("/")

    def close(self) -> None:
        """Close the SDK client's connections now rather than whenever it is collected."""
        self._client.close()

    def __enter__(self: _Remote) -> _Remote:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def count_tokens(self, text: str) -> int:
        return estimate_tokens(text)

    def stream(
        self,
        messages: Sequence[Message],
        *,
        cancel: threading.Event | None = None,
        tools: Sequence[ToolSpec] = (),
    ) -> Iterator[ModelChunk]:
        stop = cancel or threading.Event()
        return retry_dropped(
            lambda: self._attempt(messages, stop, tools),
            retries=self.max_retries,
            delay=self.retry_delay,
            where=self.base_url,
        )

    def _attempt(
        self, messages: Sequence[Message], cancel: threading.Event, tools: Sequence[ToolSpec]
    ) -> Generator[ModelChunk, None, None]:
        """One request: stream it, raising StreamDropped if it fails after it started."""
        errors = self._errors()
        with map_errors(errors, self.model, self.base_url):
            if cancel.is_set():
                return
            stream = self._open(messages, tools)
        reply = self._reply()
        with stream:
            for item in iterate(stream, cancel, errors):
                yield from reply.add(item)
                if cancel.is_set():
                    break
        yield from reply.end(messages, cancelled=cancel.is_set())

    def _errors(self) -> SdkErrors:
        raise NotImplementedError

    def _open(self, messages: Sequence[Message], tools: Sequence[ToolSpec]) -> Any:
        """Send the request (offering ``tools`` beside execute, in tool mode); return the
        SDK's stream (a context manager)."""
        raise NotImplementedError

    def _reply(self) -> Reply:
        raise NotImplementedError
