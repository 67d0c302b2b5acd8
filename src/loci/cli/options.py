"""The options ``loci`` and ``loci serve`` share, and how options become settings.

An option that sets a setting is made from its declaration in ``loci.config`` (``SETTINGS``):
its names, help, type, choices or range. Each group is a decorator that adds its options to
a click command; ``settings_flags`` turns the values a command received into
``load_settings`` overrides (an option not given is left out, so config.toml and the
environment still apply).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from ..config import FOLDER, NAMES, NUMBER, PATHS, SECONDS, SETTINGS, SWITCH, WHOLE, Setting

F = TypeVar("F", bound=Callable[..., Any])


def param_name(s: Setting) -> str:
    """The name click gives the option's value (``--no-network``: ``no_network``)."""
    longest = max(s.flags, key=len)
    return longest.lstrip("-").replace("-", "_")


def _click_type(s: Setting) -> Any:
    if s.choices:
        return click.Choice(s.choices)
    if s.kind is FOLDER:
        return click.Path(file_okay=False, path_type=Path)
    if s.kind is WHOLE:
        return int if s.minimum is None else click.IntRange(min=int(s.minimum))
    if s.kind in (NUMBER, SECONDS):
        return float if s.minimum is None else click.FloatRange(min=s.minimum)
    return None


def setting_option(name: str, help: str | None = None) -> Callable[[F], F]:
    """The CLI option for setting ``name``, as declared (``help``: a command's own words)."""
    s = SETTINGS[name]
    extra: dict[str, Any] = {"metavar": s.metavar} if s.metavar else {}
    if s.kind is SWITCH:
        extra.update(is_flag=True, default=None)
    elif s.kind in (PATHS, NAMES):
        extra["multiple"] = True
    return click.option(*s.flags, type=_click_type(s), help=help or s.help, **extra)


def _group(*names: str) -> Callable[[F], F]:
    options = [setting_option(name) for name in names]

    def apply(f: F) -> F:
        for option in reversed(options):  # as if written top to bottom above ``f``
            f = option(f)
        return f

    return apply


model_options = _group("api_base", "api_key", "tools")
run_options = _group(
    "max_steps", "effort", "timeout", "python", "recipes", "agents_md", "kernel_state", "compact"
)
sandbox_options = _group(
    "sandbox", "network", "memory_mb", "max_processes", "max_output_mb", "expose", "pass_env"
)
gateway_options = _group("kernel_gateway", "gateway_token")

# option name -> the setting it sets
OPTION_SETTINGS: dict[str, Setting] = {param_name(s): s for s in SETTINGS.values() if s.flags}
SETTINGS_OPTIONS = frozenset(OPTION_SETTINGS)


def settings_flags(options: dict[str, Any]) -> dict[str, Any]:
    """The settings the given options override: those among SETTINGS_OPTIONS that are set."""
    flags: dict[str, Any] = {}
    for name, value in options.items():
        s = OPTION_SETTINGS.get(name)
        if s is None or value is None:
            continue
        if s.kind is SWITCH:  # a flag turns the switch away from its default
            value = (not s.default) if value else None
        elif isinstance(value, tuple):  # a repeatable option: not given when empty
            value = value or None
        elif s.kind is FOLDER and isinstance(value, Path):
            value = value.resolve()
        if value is not None:
            flags[s.name] = value
    return flags
