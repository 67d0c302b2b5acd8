"""From a model spec (``settings.model``) to a ``Model``.

    openai:NAME                    OpenAI, or any compatible server with --api-base
    NAME                           the same (a bare name with no ":" or "/", e.g. gpt-4o)
    anthropic:NAME                 Anthropic (ANTHROPIC_API_KEY; extra loci[anthropic])
    local | local:NAME | local:/path/model.gguf    an embedded model (extra loci[local])
    scripted:FILE                  replay a JSON script (tests, demos)

Backends are imported only when chosen, so a missing optional extra costs nothing until used.
"""

from __future__ import annotations

from ..config import Settings
from ..errors import ConfigError, ModelAuthError, ModelNotFoundError
from .base import Model

OPENAI_DEFAULT_CONTEXT = 128_000
CUSTOM_SERVER_CONTEXT = 8192
ANTHROPIC_CONTEXT = 200_000

# Longest matching prefix wins.
KNOWN_CONTEXT_WINDOWS: dict[str, int] = {
    "gpt-5": 272_000,  # input limit (400k in total, 128k of them output)
    "gpt-4.1": 1_047_576,
    "gpt-4o": 128_000,
    "gpt-4-turbo": 128_000,
    "gpt-4": 8192,
    "gpt-3.5-turbo": 16_385,
    "o1": 200_000,
    "o3": 200_000,
    "o4-mini": 200_000,
    "chatgpt-4o": 128_000,
}

VALID_FORMS = (
    "openai:NAME (or a bare NAME such as gpt-4o), anthropic:NAME, "
    "local, local:NAME, local:/path/to/model.gguf, scripted:FILE"
)


def openai_context_window(model: str, api_base: str | None) -> int:
    """The context window of an OpenAI model; a small default for other servers."""
    if api_base is not None and "api.openai.com" not in api_base:
        return CUSTOM_SERVER_CONTEXT
    matches = [p for p in KNOWN_CONTEXT_WINDOWS if model.startswith(p)]
    return KNOWN_CONTEXT_WINDOWS[max(matches, key=len)] if matches else OPENAI_DEFAULT_CONTEXT


def _tools_flag(settings: Settings, *, auto: bool) -> bool:
    value = settings.tools.strip().lower()
    if value not in ("auto", "on", "off"):
        raise ConfigError(f"tools must be auto, on or off, got {settings.tools!r}")
    return auto if value == "auto" else value == "on"


def _split(spec: str) -> tuple[str, str]:
    spec = spec.strip()
    prefix, sep, rest = spec.partition(":")
    if not sep:
        if spec == "local":
            return "local", ""
        if spec and "/" not in spec:
            return "openai", spec
    return prefix, rest


def _openai(name: str, spec: str, settings: Settings) -> Model:
    from .openai_compat import OpenAIModel

    if not settings.api_key and settings.api_base is None:
        raise ModelAuthError(
            f"{spec} needs an API key: set OPENAI_API_KEY or pass --api-key "
            "(or --api-base for a local server)"
        )
    return OpenAIModel(
        name,
        api_base=settings.api_base,
        api_key=settings.api_key,
        tools=_tools_flag(settings, auto=settings.api_base is None),
        context_window=settings.context_window or openai_context_window(name, settings.api_base),
        name=spec,
    )


def _anthropic(name: str, spec: str, settings: Settings) -> Model:
    from .anthropic import AnthropicModel

    if not settings.anthropic_api_key:
        raise ModelAuthError(f"{spec} needs an API key: set ANTHROPIC_API_KEY")
    return AnthropicModel(
        name,
        api_key=settings.anthropic_api_key,
        name=spec,
        context_window=settings.context_window or ANTHROPIC_CONTEXT,
        tools=_tools_flag(settings, auto=True),
    )


def _scripted(rest: str, spec: str, settings: Settings) -> Model:
    from .scripted import ScriptedModel

    value = settings.tools.strip().lower()
    tools = None if value == "auto" else _tools_flag(settings, auto=False)
    model = ScriptedModel.from_file(rest, name=spec, tools=tools)
    if settings.context_window:
        model.context_window = settings.context_window
    return model


def get_model(settings: Settings) -> Model:
    """The model ``settings.model`` names; ModelNotFoundError for an unknown spec."""
    spec = settings.model.strip()
    prefix, rest = _split(spec)
    rest = rest.strip()
    if prefix == "local":
        from .local import load_local_model

        return load_local_model(rest, settings)
    if prefix in ("openai", "anthropic", "scripted") and not rest:
        raise ModelNotFoundError(f"{spec!r} needs a name after the colon, e.g. {prefix}:NAME")
    if prefix == "openai":
        return _openai(rest, spec, settings)
    if prefix == "anthropic":
        return _anthropic(rest, spec, settings)
    if prefix == "scripted":
        return _scripted(rest, spec, settings)
    hint = f"; for a model on {settings.api_base} use openai:{spec}" if settings.api_base else ""
    raise ModelNotFoundError(f"unknown model {spec!r}: use {VALID_FORMS}{hint}")
