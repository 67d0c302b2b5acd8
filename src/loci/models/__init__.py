"""Models: the ``Model`` protocol, its chunks, the registry and the built-in backends.

``AnthropicModel`` (``loci.models.anthropic``) and ``LocalModel`` (``loci.models.local``) are
not imported here: they need optional extras and load only when chosen.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .base import Model as Model
from .base import ModelChunk as ModelChunk
from .base import TextChunk as TextChunk
from .base import ToolCallChunk as ToolCallChunk
from .base import UsageChunk as UsageChunk
from .base import estimate_tokens as estimate_tokens
from .scripted import ScriptedModel as ScriptedModel
from .scripted import ScriptedReply as ScriptedReply

if TYPE_CHECKING:
    from .openai_compat import OpenAIModel as OpenAIModel
    from .registry import get_model as get_model


def __getattr__(name: str) -> Any:
    """``OpenAIModel`` and ``get_model`` load on first use: importing the openai SDK costs
    ~0.6 s, which ``loci --version`` and local-model runs should not pay."""
    if name == "OpenAIModel":
        from .openai_compat import OpenAIModel

        return OpenAIModel
    if name == "get_model":
        from .registry import get_model

        return get_model
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Model",
    "ModelChunk",
    "OpenAIModel",
    "ScriptedModel",
    "ScriptedReply",
    "TextChunk",
    "ToolCallChunk",
    "UsageChunk",
    "estimate_tokens",
    "get_model",
]
