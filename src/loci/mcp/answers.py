"""What one call to an MCP server's tool gave: ``ToolResult``, made from the SDK's answer.

A tool answers with content blocks (text, images, audio, resources) and, if it declares an
output schema, a structured value. loci keeps three views of that: ``text`` (what the model
reads and the store keeps), ``images`` (shown and saved like a plot's), and ``value`` (what a
Python function call returns in the kernel: the structured value, else the text). A server
made with the SDK's ``MCPServer`` wraps a plain return value as ``{"result": value}``; when
the tool's output schema has that one property, ``value`` is the value itself.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

CallStatus = Literal["ok", "error", "timeout", "crashed", "interrupted"]


@dataclass(frozen=True)
class ToolResult:
    """How one call ended. ``message`` says why when ``status`` is not ``ok``."""

    status: CallStatus
    text: str = ""
    value: Any = None
    images: tuple[tuple[str, str], ...] = ()  # (MIME type, base64 data)
    message: str = ""
    duration: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """The answer the kernel's function gets back over the bridge."""
        if self.status == "ok":
            return {"ok": True, "value": self.value}
        return {"ok": False, "status": self.status, "error": self.message or self.status}


def _block_text(block: Any) -> tuple[str, tuple[str, str] | None]:
    """A content block as text, or as an image (MIME type, base64 data)."""
    kind = getattr(block, "type", "")
    if kind == "text":
        return str(block.text), None
    if kind == "image":
        return "", (str(block.mime_type), str(block.data))
    if kind == "resource":
        resource = block.resource
        text = getattr(resource, "text", None)
        if isinstance(text, str):
            return text, None
        return f"[resource {resource.uri}: {resource.mime_type or 'binary data'}]", None
    if kind == "resource_link":
        return f"[resource link: {block.uri}]", None
    mime = getattr(block, "mime_type", "")
    return f"[{kind or 'content'}{': ' + mime if mime else ''}]", None


def unwrapped(value: Any, output_schema: dict[str, Any] | None) -> Any:
    """``{"result": x}`` → ``x`` when the output schema declares only ``result``."""
    props = (output_schema or {}).get("properties")
    only_result = isinstance(props, dict) and set(props) == {"result"}
    if only_result and isinstance(value, dict) and set(value) == {"result"}:
        return value["result"]
    return value


def to_result(raw: Any, output_schema: dict[str, Any] | None = None) -> ToolResult:
    """A ``CallToolResult`` of the SDK (read by attribute) as a ``ToolResult``."""
    texts: list[str] = []
    images: list[tuple[str, str]] = []
    for block in getattr(raw, "content", None) or ():
        text, image = _block_text(block)
        if image is not None:
            images.append(image)
        elif text:
            texts.append(text)
    text = "\n".join(texts)
    structured = getattr(raw, "structured_content", None)
    if getattr(raw, "is_error", False):
        return ToolResult("error", text, images=tuple(images), message=text or "the tool failed")
    if not text and structured is not None:
        text = json.dumps(structured, ensure_ascii=False)
    value = text if structured is None else unwrapped(structured, output_schema)
    return ToolResult("ok", text, value, tuple(images))
