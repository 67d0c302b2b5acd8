"""The options ``loci`` and ``loci serve`` share, declared once, and how they become settings.

Each group is a decorator that adds its options to a click command; ``settings_flags`` turns
the values a command received into ``load_settings`` overrides (an option not given is left
out, so config.toml and the environment still apply).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from ..config import SANDBOX_MODES

F = TypeVar("F", bound=Callable[..., Any])


def _group(*options: Callable[[F], F]) -> Callable[[F], F]:
    def apply(f: F) -> F:
        for option in reversed(options):  # as if written top to bottom above ``f``
            f = option(f)
        return f

    return apply


model_options = _group(
    click.option("--api-base", help="OpenAI-compatible server URL (Ollama, vLLM, llama.cpp, …)"),
    click.option("--api-key", help="API key for the model provider"),
    click.option("--tools", type=click.Choice(["auto", "on", "off"]), help="Native tool calls"),
)

run_options = _group(
    click.option("--max-steps", type=click.IntRange(min=1), help="Cap on code rounds per request"),
    click.option("--timeout", type=click.FloatRange(min=0), help="Seconds per execution (0: none)"),
    click.option("--python", "python", help="Python interpreter for the kernel (e.g. a venv's)"),
)

sandbox_options = _group(
    click.option(
        "--sandbox",
        type=click.Choice(SANDBOX_MODES),
        help="Confine the code: writes only to the workspace (default), only to temp, or off",
    ),
    click.option("--no-network", is_flag=True, default=None, help="Cut the code's network access"),
    click.option(
        "--memory-mb", type=click.IntRange(min=0), help="Memory per kernel process (0: none)"
    ),
    click.option(
        "--max-processes", type=click.IntRange(min=0), help="Processes per kernel (0: none)"
    ),
    click.option(
        "--max-output-mb", type=click.FloatRange(min=0), help="Output kept per execution (0: none)"
    ),
    click.option(
        "--expose",
        multiple=True,
        metavar="PATH",
        help="Show a protected location (e.g. ~/.aws) to the code, read-only (repeatable)",
    ),
    click.option(
        "--pass-env",
        multiple=True,
        metavar="NAME",
        help="Pass a secret-looking environment variable to the code (repeatable)",
    ),
)

gateway_options = _group(
    click.option("--kernel-gateway", metavar="URL", help="Run kernels on a Jupyter Kernel Gateway"),
    click.option("--gateway-token", help="The gateway's auth token (or LOCI_GATEWAY_TOKEN)"),
)

# option name -> settings field, where they differ
_RENAMED = {"yes": "auto_run", "no_network": "network"}
SETTINGS_OPTIONS = frozenset(
    {
        "model", "api_base", "api_key", "tools", "yes", "max_steps", "timeout", "python",
        "workdir", "sandbox", "no_network", "memory_mb", "max_processes", "max_output_mb",
        "kernel_gateway", "gateway_token", "expose", "pass_env",
    }
)  # fmt: skip


def settings_flags(options: dict[str, Any]) -> dict[str, Any]:
    """The settings the given options override: those among SETTINGS_OPTIONS that are set."""
    flags: dict[str, Any] = {}
    for name, value in options.items():
        if name not in SETTINGS_OPTIONS or value is None:
            continue
        if name == "no_network":
            value = False if value else None
        elif isinstance(value, tuple):  # a repeatable option: not given when empty
            value = value or None
        elif name == "workdir" and isinstance(value, Path):
            value = value.resolve()
        if value is not None:
            flags[_RENAMED.get(name, name)] = value
    return flags
