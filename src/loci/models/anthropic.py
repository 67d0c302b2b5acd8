"""Anthropic models (Claude) through the official ``anthropic`` SDK, an optional extra.

The SDK is imported when a model is created, never at import time; when it is missing,
``MissingExtraError`` names the install command. Native tool use: the ``execute`` tool, code
comes back as ``tool_use`` blocks and results go as ``tool_result`` blocks; the session's other
tools (the MCP servers' ``server__tool``) are offered beside it. The system prompt
is the ``system`` parameter, and consecutive messages of the same role are merged since the
Messages API requires alternation. A model that can see (``vision``) gets images as base64
``image`` blocks, inside the ``tool_result`` of the run that drew them.

The reply streams as raw events (``messages.create(stream=True)``): ``message_start`` (input
tokens), ``content_block_start`` / ``content_block_delta`` (``text_delta``,
``input_json_delta``) / ``content_block_stop``, ``message_delta`` (output tokens),
``message_stop``. Errors are translated in one place, ``map_anthropic_errors``; retries and
dropped streams are ``loci.models.transport``'s.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from ..errors import ModelAuthError, ModelError
from ..events import Usage
from ..messages import EXECUTE, Message, ToolSpec
from .base import ModelChunk, TextChunk, ToolCallChunk, UsageChunk, estimate_tokens, import_extra
from .convert import estimate_prompt_tokens, flatten_tool_messages, parse_tool_arguments
from .images import ImagePart, anthropic_image_tokens, image_tokens, select_images
from .transport import RETRIES, TIMEOUT_S, RemoteModel, SdkErrors, map_errors, translate_error

DEFAULT_MAX_TOKENS = 8192  # the reply's length limit, which the Messages API requires
CONTEXT = 200_000  # tokens, for every current Claude model
ANTHROPIC_BASE_URL = "https://api.anthropic.com"


def _sdk() -> ModuleType:
    return import_extra("anthropic", "Anthropic models", "anthropic", "anthropic")


# --- errors -------------------------------------------------------------------------------


def _classes(sdk: ModuleType, *names: str) -> tuple[type[BaseException], ...]:
    """The named classes this version of the SDK has (newer ones added some)."""
    return tuple(getattr(sdk, n) for n in names if hasattr(sdk, n))


def anthropic_errors() -> SdkErrors:
    """The ``anthropic`` SDK's errors, by what they mean to loci."""
    sdk = _sdk()
    return SdkErrors(
        root=sdk.AnthropicError,
        api=sdk.APIError,
        auth=_classes(sdk, "AuthenticationError", "PermissionDeniedError", "CredentialsError"),
        not_found=(sdk.NotFoundError,),
        rate_limited=(sdk.RateLimitError,),
        unavailable=_classes(
            sdk, "InternalServerError", "APIConnectionError", "RequestTimeoutError"
        ),
        refused=_classes(
            sdk,
            "BadRequestError",
            "UnprocessableEntityError",
            "APIResponseValidationError",
            "ContentTooLargeError",
        ),
        key_hint="check ANTHROPIC_API_KEY",
    )


def translate_anthropic_error(exc: Exception, model: str, base_url: str) -> ModelError:
    """The loci error for an ``anthropic`` SDK error (a pure function, tested per class)."""
    return translate_error(exc, model, base_url, anthropic_errors())


def map_anthropic_errors(model: str, base_url: str) -> AbstractContextManager[None]:
    """Translate ``anthropic`` errors raised inside the block into ``loci.errors``."""
    return map_errors(anthropic_errors(), model, base_url)


# --- messages -----------------------------------------------------------------------------


def tool_definition(spec: ToolSpec) -> dict[str, Any]:
    """A tool as the Messages API takes it."""
    return {"name": spec.name, "description": spec.description, "input_schema": spec.parameters}


def execute_tool_definition() -> dict[str, Any]:
    return tool_definition(EXECUTE)


def _image_block(part: ImagePart) -> dict[str, Any]:
    return {
        "type": "image",
        "source": {"type": "base64", "media_type": part.mime, "data": part.data},
    }


def _blocks(m: Message, parts: dict[str, ImagePart]) -> list[dict[str, Any]]:
    images = [_image_block(parts[p]) for p in m.images if p in parts]
    if m.role == "tool":
        block: dict[str, Any] = {"type": "tool_result", "tool_use_id": m.tool_call_id}
        if images:  # a tool result's content may hold text and image blocks
            text = [{"type": "text", "text": m.content}] if m.content.strip() else []
            block["content"] = text + images
        elif m.content:
            block["content"] = m.content
        return [block]
    blocks: list[dict[str, Any]] = []
    if m.content.strip():
        blocks.append({"type": "text", "text": m.content})
    blocks += images
    for c in m.tool_calls:
        blocks.append(
            {
                "type": "tool_use",
                "id": c.id,
                "name": c.tool_name(),
                "input": c.arguments(),
            }
        )
    return blocks


def to_anthropic_messages(
    messages: Sequence[Message], *, tools: bool = True, vision: bool = False
) -> tuple[str, list[dict[str, Any]]]:
    """(system prompt, messages) in Messages API form, same-role messages merged. With
    ``vision``, the images ``select_images`` chooses go as base64 ``image`` blocks, inside
    the ``tool_result`` of the run that drew them or beside a request's text."""
    parts: dict[str, ImagePart] = {}
    if vision:
        messages, parts = select_images(messages)
    if not tools:
        messages = flatten_tool_messages(messages)
    system = "\n\n".join(m.content for m in messages if m.role == "system" and m.content)
    out: list[dict[str, Any]] = []
    for m in messages:
        if m.role == "system":
            continue
        role = "assistant" if m.role == "assistant" else "user"
        blocks = _blocks(m, parts)
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

    def add(self, event: Any) -> Iterator[ModelChunk]:
        """Fold one raw stream event in; yield what it completes, if anything."""
        out = _handle_event(event, self)
        if out is not None:
            yield out

    def end(self, messages: Sequence[Message], *, cancelled: bool) -> Iterator[ModelChunk]:
        """The usage (tool calls were yielded as their blocks closed)."""
        yield UsageChunk(self.usage(messages))

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

    default_base_url = ANTHROPIC_BASE_URL

    def __init__(
        self,
        model: str,
        *,
        api_key: str | None,
        name: str,
        context_window: int = CONTEXT,
        tools: bool = True,
        api_base: str | None = None,
        vision: bool = False,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        max_retries: int = RETRIES,
        timeout: float = TIMEOUT_S,
    ) -> None:
        sdk = _sdk()
        if not api_key:
            raise ModelAuthError("Anthropic models need an API key: set ANTHROPIC_API_KEY")
        super().__init__(model, name, context_window, tools, max_retries)
        self.max_tokens = max_tokens
        self.vision = vision  # shown the images of results and requests
        self._connect(sdk.Anthropic, api_key, api_base, timeout)

    def __repr__(self) -> str:
        return f"AnthropicModel({self.model!r}, base_url={self.base_url!r})"

    def _errors(self) -> SdkErrors:
        return anthropic_errors()

    def image_tokens(self, path: str) -> int:
        return image_tokens(path, anthropic_image_tokens)

    def _open(self, messages: Sequence[Message], tools: Sequence[ToolSpec]) -> Any:
        system, converted = to_anthropic_messages(
            messages, tools=self.supports_tools, vision=self.vision
        )
        request: dict[str, Any] = {
            "model": self.model,
            "max_tokens": self.max_tokens,
            "messages": converted,
        }
        if system:
            request["system"] = system
        if self.supports_tools:
            request["tools"] = [tool_definition(t) for t in (EXECUTE, *tools)]
        return self._client.messages.create(stream=True, **request)

    def _reply(self) -> _Reply:
        return _Reply()
