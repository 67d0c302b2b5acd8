"""Anthropic models (Claude) through the official ``anthropic`` SDK, an optional extra.

The SDK is imported when a model is created, never at import time; when it is missing,
``MissingExtraError`` names the install command. Native tool use: the ``execute`` tool, code
comes back as ``tool_use`` blocks and results go as ``tool_result`` blocks. The system prompt
is the ``system`` parameter, and consecutive messages of the same role are merged since the
Messages API requires alternation.

The reply streams as raw events (``messages.create(stream=True)``): ``message_start`` (input
tokens), ``content_block_start`` / ``content_block_delta`` (``text_delta``,
``input_json_delta``) / ``content_block_stop``, ``message_delta`` (output tokens),
``message_stop``. Errors are translated in one place, ``map_anthropic_errors``; retries and
dropped streams behave as in ``openai_compat``.
"""

from __future__ import annotations

import threading
from collections.abc import Generator, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from ..errors import (
    MissingExtraError,
    ModelAuthError,
    ModelError,
    ModelNotFoundError,
    ModelResponseError,
    ModelUnavailableError,
)
from ..events import Usage
from ..messages import TOOL_DESCRIPTION, TOOL_NAME, TOOL_SCHEMA, Message
from .base import ModelChunk, TextChunk, ToolCallChunk, UsageChunk, estimate_tokens
from .convert import flatten_tool_messages
from .openai_compat import (
    RemoteModel,
    StreamDropped,
    error_detail,
    estimate_prompt_tokens,
    parse_tool_arguments,
    transport_errors,
)

DEFAULT_MAX_TOKENS = 8192


def _sdk() -> ModuleType:
    try:
        import anthropic
    except ImportError as exc:
        raise MissingExtraError("Anthropic models", "anthropic", "anthropic") from exc
    return anthropic


# --- errors -------------------------------------------------------------------------------


def translate_anthropic_error(exc: Exception, model: str, base_url: str) -> ModelError:
    """The loci error for an ``anthropic`` SDK error (a pure function, tested per class)."""
    sdk = _sdk()
    detail = error_detail(exc)
    if isinstance(exc, (sdk.AuthenticationError, sdk.PermissionDeniedError)) or (
        hasattr(sdk, "CredentialsError") and isinstance(exc, sdk.CredentialsError)
    ):
        return ModelAuthError(f"{base_url} refused the API key ({detail}): check ANTHROPIC_API_KEY")
    if isinstance(exc, sdk.NotFoundError):
        return ModelNotFoundError(f"model {model!r} not found at {base_url} ({detail})")
    if isinstance(exc, sdk.RateLimitError):
        return ModelUnavailableError(f"{base_url} is rate limiting requests ({detail})")
    unavailable = [sdk.InternalServerError, sdk.APIConnectionError]
    if hasattr(sdk, "RequestTimeoutError"):
        unavailable.append(sdk.RequestTimeoutError)
    if isinstance(exc, tuple(unavailable)):
        return ModelUnavailableError(f"cannot get a reply from {base_url} ({detail})")
    understood = [sdk.BadRequestError, sdk.UnprocessableEntityError, sdk.APIResponseValidationError]
    if hasattr(sdk, "ContentTooLargeError"):
        understood.append(sdk.ContentTooLargeError)
    if isinstance(exc, tuple(understood)):
        return ModelResponseError(
            f"{base_url} could not handle the request for {model!r}: {detail}"
        )
    return ModelError(f"error from {base_url} for {model!r}: {detail}")


@contextmanager
def map_anthropic_errors(model: str, base_url: str) -> Iterator[None]:
    """Translate ``anthropic`` errors raised inside the block into ``loci.errors``."""
    sdk = _sdk()
    try:
        yield
    except sdk.AnthropicError as exc:
        raise translate_anthropic_error(exc, model, base_url) from exc


# --- messages -----------------------------------------------------------------------------


def execute_tool_definition() -> dict[str, Any]:
    return {"name": TOOL_NAME, "description": TOOL_DESCRIPTION, "input_schema": TOOL_SCHEMA}


def _blocks(m: Message) -> list[dict[str, Any]]:
    if m.role == "tool":
        block: dict[str, Any] = {"type": "tool_result", "tool_use_id": m.tool_call_id}
        if m.content:
            block["content"] = m.content
        return [block]
    blocks: list[dict[str, Any]] = []
    if m.content.strip():
        blocks.append({"type": "text", "text": m.content})
    for c in m.tool_calls:
        blocks.append(
            {
                "type": "tool_use",
                "id": c.id,
                "name": TOOL_NAME,
                "input": {"language": c.language, "code": c.code},
            }
        )
    return blocks


def to_anthropic_messages(
    messages: Sequence[Message], *, tools: bool = True
) -> tuple[str, list[dict[str, Any]]]:
    """(system prompt, messages) in Messages API form, same-role messages merged."""
    if not tools:
        messages = flatten_tool_messages(messages)
    system = "\n\n".join(m.content for m in messages if m.role == "system" and m.content)
    out: list[dict[str, Any]] = []
    for m in messages:
        if m.role == "system":
            continue
        role = "assistant" if m.role == "assistant" else "user"
        blocks = _blocks(m)
        if not blocks:
            continue
        if out and out[-1]["role"] == role:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": role, "content": blocks})
    for msg in out:  # tool results must come first in a user message
        msg["content"].sort(key=lambda b: b["type"] != "tool_result")
    return system, out


# --- the model ----------------------------------------------------------------------------


@dataclass
class _Reply:
    """What one streamed reply has delivered so far."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    tools: dict[int, tuple[str, str]] = field(default_factory=dict)  # index -> (id, name)
    json: dict[int, list[str]] = field(default_factory=dict)
    text: list[str] = field(default_factory=list)

    def usage(self, messages: Sequence[Message]) -> Usage:
        prompt = self.input_tokens
        if prompt is None:
            prompt = estimate_prompt_tokens(messages)
        completion = self.output_tokens
        if completion is None:
            parts = "".join(self.text) + "".join("".join(j) for j in self.json.values())
            completion = estimate_tokens(parts)
        return Usage(prompt, completion)


def _input_tokens(usage: Any) -> int:
    return sum(
        getattr(usage, name, None) or 0
        for name in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    )


def _handle_event(event: Any, reply: _Reply) -> ModelChunk | None:
    """Fold one raw stream event into ``reply``; return what to yield, if anything."""
    kind = getattr(event, "type", "")
    if kind == "message_start":
        reply.input_tokens = _input_tokens(event.message.usage)
        reply.output_tokens = getattr(event.message.usage, "output_tokens", None)
    elif kind == "message_delta" and event.usage is not None:
        reply.output_tokens = event.usage.output_tokens
        if getattr(event.usage, "input_tokens", None):
            reply.input_tokens = _input_tokens(event.usage)
    elif kind == "content_block_start":
        block = event.content_block
        if block.type == "tool_use":
            reply.tools[event.index] = (block.id, block.name)
            reply.json[event.index] = []
        elif block.type == "text" and block.text:
            reply.text.append(block.text)
            return TextChunk(block.text)
    elif kind == "content_block_delta":
        delta = event.delta
        if delta.type == "text_delta" and delta.text:
            reply.text.append(delta.text)
            return TextChunk(delta.text)
        if delta.type == "input_json_delta":
            reply.json.setdefault(event.index, []).append(delta.partial_json)
    elif kind == "content_block_stop" and event.index in reply.tools:
        call_id, name = reply.tools.pop(event.index)
        return ToolCallChunk(parse_tool_arguments(call_id, name, "".join(reply.json[event.index])))
    return None


class AnthropicModel(RemoteModel):
    """A Claude model through the Messages API (streaming, native tool use)."""

    def __init__(
        self,
        model: str,
        *,
        api_key: str | None,
        name: str,
        context_window: int = 200_000,
        tools: bool = True,
        api_base: str | None = None,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        max_retries: int = 3,
        timeout: float = 600,
    ) -> None:
        sdk = _sdk()
        if not api_key:
            raise ModelAuthError("Anthropic models need an API key: set ANTHROPIC_API_KEY")
        self.model = model
        self.name = name
        self.context_window = context_window
        self.supports_tools = tools
        self.max_tokens = max_tokens
        self.max_retries = max_retries
        self.base_url = api_base or "https://api.anthropic.com"
        with map_anthropic_errors(model, self.base_url):
            self._client = sdk.Anthropic(
                api_key=api_key, base_url=api_base, max_retries=max_retries, timeout=timeout
            )
        self.base_url = str(self._client.base_url).rstrip("/")

    def __repr__(self) -> str:
        return f"AnthropicModel({self.model!r}, base_url={self.base_url!r})"

    def _request(self, messages: Sequence[Message]) -> dict[str, Any]:
        system, converted = to_anthropic_messages(messages, tools=self.supports_tools)
        request: dict[str, Any] = {
            "model": self.model,
            "max_tokens": self.max_tokens,
            "messages": converted,
        }
        if system:
            request["system"] = system
        if self.supports_tools:
            request["tools"] = [execute_tool_definition()]
        return request

    def _attempt(
        self, messages: Sequence[Message], cancel: threading.Event
    ) -> Generator[ModelChunk, None, None]:
        """One request: stream it, raising StreamDropped if it fails after it started."""
        reply = _Reply()
        with map_anthropic_errors(self.model, self.base_url):
            if cancel.is_set():
                return
            stream = self._client.messages.create(stream=True, **self._request(messages))
        with stream:
            for event in _iterate(stream, cancel):
                out = _handle_event(event, reply)
                if out is not None:
                    yield out
                if cancel.is_set():
                    break
        yield UsageChunk(reply.usage(messages))


def _iterate(stream: Any, cancel: threading.Event) -> Iterator[Any]:
    """The events of an SDK stream, until it ends or ``cancel`` is set; failures mid-way
    (a dropped connection, an ``error`` event) become StreamDropped."""
    errors = (_sdk().APIError, *transport_errors())
    iterator = iter(stream)
    while not cancel.is_set():
        try:
            event = next(iterator)
        except StopIteration:
            return
        except errors as exc:
            raise StreamDropped(exc) from exc
        yield event
