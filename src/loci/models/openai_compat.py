"""OpenAI chat completions, and every server that speaks the same protocol.

``OpenAIModel`` talks to api.openai.com or, with ``api_base``, to Ollama, vLLM, llama.cpp's
server, LM Studio and the like, through the official ``openai`` SDK, always streaming.

Tool mode offers one function tool, ``execute`` (see ``loci.messages``); streamed tool-call
argument deltas are gathered by index and each complete call becomes one ``ToolCallChunk``.
Text mode sends the conversation flattened (``flatten_tool_messages``) and yields text only.

Errors are translated in one place, ``map_openai_errors``. Failures before the reply starts
are retried by the SDK (429, 5xx, connection errors, with backoff); a stream that drops before
anything was yielded is retried here; one that drops after chunks were yielded ends with
``ModelUnavailableError`` so the caller keeps what arrived.
"""

from __future__ import annotations

import importlib
import json
import threading
import time
import uuid
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import openai
from openai.types.chat import ChatCompletionChunk

from ..errors import (
    ModelAuthError,
    ModelError,
    ModelNotFoundError,
    ModelResponseError,
    ModelUnavailableError,
)
from ..events import Usage
from ..messages import TOOL_DESCRIPTION, TOOL_NAME, TOOL_SCHEMA, Message, ToolCall
from .base import ModelChunk, TextChunk, ToolCallChunk, UsageChunk, estimate_tokens
from .convert import flatten_tool_messages

DUMMY_API_KEY = "not-needed"  # local servers ignore the key, but the SDK insists on one
_MAX_RETRY_DELAY = 8.0


# --- errors -------------------------------------------------------------------------------


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
    return text if len(text) <= 300 else text[:297] + "..."


def translate_openai_error(exc: openai.OpenAIError, model: str, base_url: str) -> ModelError:
    """The loci error for an ``openai`` SDK error (a pure function, tested per class)."""
    detail = error_detail(exc)
    if isinstance(exc, (openai.AuthenticationError, openai.PermissionDeniedError)):
        return ModelAuthError(
            f"{base_url} refused the API key ({detail}): check OPENAI_API_KEY or --api-key"
        )
    if isinstance(exc, openai.NotFoundError):
        return ModelNotFoundError(f"model {model!r} not found at {base_url} ({detail})")
    if isinstance(exc, openai.RateLimitError):
        return ModelUnavailableError(f"{base_url} is rate limiting requests ({detail})")
    if isinstance(exc, (openai.InternalServerError, openai.APIConnectionError)):
        return ModelUnavailableError(f"cannot get a reply from {base_url} ({detail})")
    if isinstance(
        exc,
        (
            openai.BadRequestError,
            openai.UnprocessableEntityError,
            openai.APIResponseValidationError,
        ),
    ):
        return ModelResponseError(
            f"{base_url} could not handle the request for {model!r}: {detail}"
        )
    return ModelError(f"error from {base_url} for {model!r}: {detail}")


@contextmanager
def map_openai_errors(model: str, base_url: str) -> Iterator[None]:
    """Translate ``openai`` errors raised inside the block into ``loci.errors``."""
    try:
        yield
    except openai.OpenAIError as exc:
        raise translate_openai_error(exc, model, base_url) from exc


def transport_errors() -> tuple[type[BaseException], ...]:
    """Low-level HTTP errors an SDK stream may let through mid-way (httpx or httpx2)."""
    found: list[type[BaseException]] = []
    for name in ("httpx", "httpx2"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        found.append(module.TransportError)
    return tuple(found)


class StreamDropped(Exception):
    """Internal: the HTTP stream failed after it had started (before the reply ended)."""

    def __init__(self, cause: BaseException) -> None:
        detail = error_detail(cause)
        if cause.__cause__ is not None:  # the SDK wraps the transport error: name it too
            detail += f": {error_detail(cause.__cause__)}"
        super().__init__(detail)
        self.cause = cause


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
            time.sleep(min(delay * 2 ** (n - 1), _MAX_RETRY_DELAY))
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


# --- tool calls ---------------------------------------------------------------------------


def _looks_like_code(text: str) -> bool:
    return bool(text.strip()) and text.lstrip()[0] not in "{[\"'"


def parse_tool_arguments(call_id: str, name: str, raw: str) -> ToolCall:
    """Turn the arguments of an ``execute`` call into a ToolCall.

    Arguments that are not JSON but look like code (some models send the code bare) are
    taken as Python; anything else that cannot be understood is a ModelResponseError.
    """
    default_language = "shell" if name in ("shell", "bash", "sh") else "python"
    try:
        data: Any = json.loads(raw, strict=False) if raw.strip() else {}
    except json.JSONDecodeError as exc:
        if _looks_like_code(raw):
            return ToolCall(call_id, default_language, raw)
        raise ModelResponseError(
            f"the model called {name!r} with arguments that are not valid JSON "
            f"({exc.msg}): {raw[:120]!r}"
        ) from exc
    if not isinstance(data, dict):
        raise ModelResponseError(
            f"the model called {name!r} with arguments that are not a JSON object: {raw[:120]!r}"
        )
    code = data.get("code")
    if not isinstance(code, str):
        raise ModelResponseError(
            f"the model called {name!r} without a 'code' string: {raw[:120]!r}"
        )
    language = data.get("language")
    if not isinstance(language, str) or not language.strip():
        language = default_language
    return ToolCall(call_id, language.strip().lower(), code)


@dataclass
class _PartialCall:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


@dataclass
class _Accumulator:
    """What one streamed reply has delivered so far."""

    calls: dict[int, _PartialCall] = field(default_factory=dict)
    text: list[str] = field(default_factory=list)
    usage: Usage | None = None

    def add(self, chunk: ChatCompletionChunk) -> str:
        """Record a chunk; return its text delta ("" if none)."""
        if chunk.usage is not None:
            self.usage = Usage(chunk.usage.prompt_tokens or 0, chunk.usage.completion_tokens or 0)
        text = ""
        for choice in chunk.choices[:1]:
            delta = choice.delta
            text = delta.content or ""
            for tc in delta.tool_calls or ():
                part = self.calls.setdefault(tc.index, _PartialCall())
                part.id = part.id or (tc.id or "")
                if tc.function is not None:
                    part.name = part.name or (tc.function.name or "")
                    part.arguments.append(tc.function.arguments or "")
        if text:
            self.text.append(text)
        return text

    def tool_calls(self) -> list[ToolCall]:
        out = []
        for index in sorted(self.calls):
            part = self.calls[index]
            call_id = part.id or f"call_{uuid.uuid4().hex[:16]}"
            out.append(
                parse_tool_arguments(call_id, part.name or TOOL_NAME, "".join(part.arguments))
            )
        return out

    def completion_estimate(self) -> int:
        args = "".join("".join(p.arguments) for p in self.calls.values())
        return estimate_tokens("".join(self.text) + args)


# --- messages -----------------------------------------------------------------------------


def execute_tool_definition() -> dict[str, Any]:
    """The one tool offered to OpenAI-style models."""
    return {
        "type": "function",
        "function": {
            "name": TOOL_NAME,
            "description": TOOL_DESCRIPTION,
            "parameters": TOOL_SCHEMA,
        },
    }


def to_openai_messages(messages: Sequence[Message], *, tools: bool) -> list[dict[str, Any]]:
    """loci messages in chat-completions form (flattened first when tools are off)."""
    if not tools:
        return [{"role": m.role, "content": m.content} for m in flatten_tool_messages(messages)]
    out: list[dict[str, Any]] = []
    for m in messages:
        if m.role == "tool":
            out.append({"role": "tool", "tool_call_id": m.tool_call_id, "content": m.content})
        elif m.role == "assistant" and m.tool_calls:
            out.append(
                {
                    "role": "assistant",
                    "content": m.content or None,
                    "tool_calls": [
                        {
                            "id": c.id,
                            "type": "function",
                            "function": {"name": TOOL_NAME, "arguments": c.arguments_json()},
                        }
                        for c in m.tool_calls
                    ],
                }
            )
        else:
            out.append({"role": m.role, "content": m.content})
    return out


def estimate_prompt_tokens(messages: Sequence[Message]) -> int:
    return sum(
        estimate_tokens(m.content) + sum(estimate_tokens(c.code) for c in m.tool_calls) + 4
        for m in messages
    )


# --- the model ----------------------------------------------------------------------------


_Remote = TypeVar("_Remote", bound="RemoteModel")


class RemoteModel:
    """What the SDK adapters share: estimated token counts, and a stream that is retried
    (with backoff) when the connection drops before its first chunk."""

    retry_delay: float = 0.5  # first backoff (seconds) when a stream drops before any chunk
    max_retries: int
    base_url: str
    _client: Any  # the SDK client, which owns an HTTP connection pool

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
    ) -> Iterator[ModelChunk]:
        stop = cancel or threading.Event()
        return retry_dropped(
            lambda: self._attempt(messages, stop),
            retries=self.max_retries,
            delay=self.retry_delay,
            where=self.base_url,
        )

    def _attempt(
        self, messages: Sequence[Message], stop: threading.Event
    ) -> Generator[ModelChunk, None, None]:
        raise NotImplementedError


class OpenAIModel(RemoteModel):
    """A chat model reached through the OpenAI chat-completions API (streaming)."""

    def __init__(
        self,
        model: str,
        *,
        api_base: str | None,
        api_key: str | None,
        tools: bool,
        context_window: int,
        name: str,
        max_retries: int = 3,
        timeout: float = 600,
    ) -> None:
        if not api_key:
            if api_base is None:
                raise ModelAuthError(
                    "OpenAI models need an API key: set OPENAI_API_KEY or pass --api-key"
                )
            api_key = DUMMY_API_KEY
        self.model = model
        self.name = name
        self.context_window = context_window
        self.supports_tools = tools
        self.max_retries = max_retries
        self.base_url = api_base or "https://api.openai.com/v1"
        with map_openai_errors(model, self.base_url):
            self._client = openai.OpenAI(
                api_key=api_key, base_url=api_base, max_retries=max_retries, timeout=timeout
            )
        self.base_url = str(self._client.base_url).rstrip("/")

    def __repr__(self) -> str:
        return (
            f"OpenAIModel({self.model!r}, base_url={self.base_url!r}, tools={self.supports_tools})"
        )

    def _request(self, messages: Sequence[Message]) -> dict[str, Any]:
        request: dict[str, Any] = {
            "model": self.model,
            "messages": to_openai_messages(messages, tools=self.supports_tools),
            "stream_options": {"include_usage": True},
        }
        if self.supports_tools:
            request["tools"] = [execute_tool_definition()]
        return request

    def _attempt(
        self, messages: Sequence[Message], cancel: threading.Event
    ) -> Generator[ModelChunk, None, None]:
        """One request: stream it, raising StreamDropped if it fails after it started."""
        acc = _Accumulator()
        with map_openai_errors(self.model, self.base_url):
            if cancel.is_set():
                return
            stream = self._client.chat.completions.create(stream=True, **self._request(messages))
        with stream:
            for chunk in _iterate(stream, cancel):
                text = acc.add(chunk)
                if text:
                    yield TextChunk(text)
                if cancel.is_set():
                    break
        if not cancel.is_set():
            for call in acc.tool_calls():
                yield ToolCallChunk(call)
        yield UsageChunk(
            acc.usage or Usage(estimate_prompt_tokens(messages), acc.completion_estimate())
        )


def _iterate(
    stream: openai.Stream[ChatCompletionChunk], cancel: threading.Event
) -> Iterator[ChatCompletionChunk]:
    """The chunks of an SDK stream, until it ends or ``cancel`` is set; failures mid-way
    become StreamDropped."""
    errors: tuple[type[BaseException], ...] = (openai.APIError, *transport_errors())
    iterator = iter(stream)
    while not cancel.is_set():
        try:
            chunk = next(iterator)
        except StopIteration:
            return
        except errors as exc:
            raise StreamDropped(exc) from exc
        yield chunk
