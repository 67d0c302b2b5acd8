"""OpenAI chat completions, and every server that speaks the same protocol.

``OpenAIModel`` talks to api.openai.com or, with ``api_base``, to Ollama, vLLM, llama.cpp's
server, LM Studio and the like, through the official ``openai`` SDK, always streaming.

Tool mode offers the function tool ``execute`` (see ``loci.messages``) and the tools the
session adds (the MCP servers' ``server__tool`` functions); streamed tool-call
argument deltas are gathered by index and each complete call becomes one ``ToolCallChunk``.
Text mode sends the conversation flattened (``flatten_tool_messages``) and yields text only.
A model that can see (``vision``) gets the images of results and requests as ``image_url``
parts (``loci.models.images`` picks them); tool messages carry text only, so a result's
images follow its tool messages in a user message.

Errors are translated in one place, ``map_openai_errors``; retries and dropped streams are
``loci.models.transport``'s.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

import openai
from openai.types.chat import ChatCompletionChunk

from ..errors import ModelAuthError, ModelError
from ..events import Usage
from ..messages import EXECUTE, TOOL_NAME, Message, ToolCall, ToolSpec
from .base import ModelChunk, TextChunk, ToolCallChunk, UsageChunk, estimate_tokens
from .convert import estimate_prompt_tokens, flatten_tool_messages, parse_tool_arguments
from .images import ImagePart, image_tokens, openai_image_tokens, select_images
from .transport import RETRIES, TIMEOUT_S, RemoteModel, SdkErrors, map_errors, translate_error

DUMMY_API_KEY = "not-needed"  # local servers ignore the key, but the SDK insists on one
OPENAI_BASE_URL = "https://api.openai.com/v1"
CALL_ID_HEX = 16  # random hex digits in the id of a tool call the server left unnamed


# --- errors -------------------------------------------------------------------------------


OPENAI_ERRORS = SdkErrors(
    root=openai.OpenAIError,
    api=openai.APIError,
    auth=(openai.AuthenticationError, openai.PermissionDeniedError),
    not_found=(openai.NotFoundError,),
    rate_limited=(openai.RateLimitError,),
    unavailable=(openai.InternalServerError, openai.APIConnectionError),
    refused=(
        openai.BadRequestError,
        openai.UnprocessableEntityError,
        openai.APIResponseValidationError,
    ),
    key_hint="check OPENAI_API_KEY or --api-key",
)


def translate_openai_error(exc: openai.OpenAIError, model: str, base_url: str) -> ModelError:
    """The loci error for an ``openai`` SDK error (a pure function, tested per class)."""
    return translate_error(exc, model, base_url, OPENAI_ERRORS)


def map_openai_errors(model: str, base_url: str) -> AbstractContextManager[None]:
    """Translate ``openai`` errors raised inside the block into ``loci.errors``."""
    return map_errors(OPENAI_ERRORS, model, base_url)


# --- tool calls ---------------------------------------------------------------------------


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

    def add(self, chunk: ChatCompletionChunk) -> Iterable[ModelChunk]:
        """Record a chunk; return its text delta, if any."""
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
        if not text:
            return ()
        self.text.append(text)
        return (TextChunk(text),)

    def end(self, messages: Sequence[Message], *, cancelled: bool) -> Iterator[ModelChunk]:
        """The tool calls (unless cancelled), then the usage."""
        if not cancelled:
            for call in self.tool_calls():
                yield ToolCallChunk(call)
        yield UsageChunk(
            self.usage or Usage(estimate_prompt_tokens(messages), self.completion_estimate())
        )

    def tool_calls(self) -> list[ToolCall]:
        out = []
        for index in sorted(self.calls):
            part = self.calls[index]
            call_id = part.id or f"call_{uuid.uuid4().hex[:CALL_ID_HEX]}"
            out.append(
                parse_tool_arguments(call_id, part.name or TOOL_NAME, "".join(part.arguments))
            )
        return out

    def completion_estimate(self) -> int:
        args = "".join("".join(p.arguments) for p in self.calls.values())
        return estimate_tokens("".join(self.text) + args)


# --- messages -----------------------------------------------------------------------------


def tool_definition(spec: ToolSpec) -> dict[str, Any]:
    """A tool as the chat-completions API takes it."""
    return {
        "type": "function",
        "function": {
            "name": spec.name,
            "description": spec.description,
            "parameters": spec.parameters,
        },
    }


def execute_tool_definition() -> dict[str, Any]:
    """The tool always offered to OpenAI-style models."""
    return tool_definition(EXECUTE)


IMAGES_NOTE = "The images the code above showed:"


def _image_part(part: ImagePart) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": part.data_url()}}


def _plain(m: Message, parts: dict[str, ImagePart]) -> dict[str, Any]:
    """A message as text, or as a text part and its image parts when it shows images."""
    images = [_image_part(parts[p]) for p in m.images if p in parts]
    if not images:
        return {"role": m.role, "content": m.content}
    return {"role": m.role, "content": [{"type": "text", "text": m.content}, *images]}


def to_openai_messages(
    messages: Sequence[Message], *, tools: bool, vision: bool = False
) -> list[dict[str, Any]]:
    """loci messages in chat-completions form (flattened first when tools are off). With
    ``vision``, the images chosen by ``select_images`` go as ``image_url`` parts: in the
    message that shows them, or (tool messages carry text only) in a user message after
    the run of tool results."""
    parts: dict[str, ImagePart] = {}
    if vision:
        messages, parts = select_images(messages)
    if not tools:
        return [_plain(m, parts) for m in flatten_tool_messages(messages)]
    out: list[dict[str, Any]] = []
    pending: list[dict[str, Any]] = []  # image parts of the tool results just sent
    for m in messages:
        if pending and m.role != "tool":
            out.append(_images_message(pending))
            pending = []
        if m.role == "tool":
            out.append({"role": "tool", "tool_call_id": m.tool_call_id, "content": m.content})
            pending += [_image_part(parts[p]) for p in m.images if p in parts]
        elif m.role == "assistant" and m.tool_calls:
            out.append(
                {
                    "role": "assistant",
                    "content": m.content or None,
                    "tool_calls": [
                        {
                            "id": c.id,
                            "type": "function",
                            "function": {"name": c.tool_name(), "arguments": c.arguments_json()},
                        }
                        for c in m.tool_calls
                    ],
                }
            )
        else:
            out.append(_plain(m, parts))
    if pending:
        out.append(_images_message(pending))
    return out


def _images_message(images: list[dict[str, Any]]) -> dict[str, Any]:
    return {"role": "user", "content": [{"type": "text", "text": IMAGES_NOTE}, *images]}


# --- the model ----------------------------------------------------------------------------


class OpenAIModel(RemoteModel):
    """A chat model reached through the OpenAI chat-completions API (streaming)."""

    default_base_url = OPENAI_BASE_URL

    def __init__(
        self,
        model: str,
        *,
        api_base: str | None,
        api_key: str | None,
        tools: bool,
        context_window: int,
        name: str,
        vision: bool = False,
        max_retries: int = RETRIES,
        timeout: float = TIMEOUT_S,
    ) -> None:
        if not api_key:
            if api_base is None:
                raise ModelAuthError(
                    "OpenAI models need an API key: set OPENAI_API_KEY or pass --api-key"
                )
            api_key = DUMMY_API_KEY
        super().__init__(model, name, context_window, tools, max_retries)
        self.vision = vision  # shown the images of results and requests
        self._connect(openai.OpenAI, api_key, api_base, timeout)

    def __repr__(self) -> str:
        return (
            f"OpenAIModel({self.model!r}, base_url={self.base_url!r}, tools={self.supports_tools})"
        )

    def _errors(self) -> SdkErrors:
        return OPENAI_ERRORS

    def image_tokens(self, path: str) -> int:
        return image_tokens(path, openai_image_tokens)

    def _open(self, messages: Sequence[Message], tools: Sequence[ToolSpec]) -> Any:
        request: dict[str, Any] = {
            "model": self.model,
            "messages": to_openai_messages(messages, tools=self.supports_tools, vision=self.vision),
            "stream_options": {"include_usage": True},
        }
        if self.supports_tools:
            request["tools"] = [tool_definition(t) for t in (EXECUTE, *tools)]
        return self._client.chat.completions.create(stream=True, **request)

    def _reply(self) -> _Accumulator:
        return _Accumulator()
