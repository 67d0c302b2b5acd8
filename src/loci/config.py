"""Settings: defaults < ``LOCI_HOME/config.toml`` < environment < flags.

This is the only module that reads the environment. ``LOCI_HOME`` (default ``~/.loci``) holds
all user state: ``config.toml``, ``history.db``, ``models/``.

config.toml keys (all optional)::

    model = "local"                 # or "openai:gpt-4.1-mini", "anthropic:...", "local:/x.gguf"
    api_base = "http://127.0.0.1:11434/v1"
    api_key = "..."
    auto_run = false
    timeout = 120                   # seconds per execution; 0 = no limit
    max_steps = 10                  # code rounds per request
    tools = "auto"                  # native tool calls: auto | on | off
    context_window = 8192           # override the model's context size
    python = "/path/to/venv/bin/python"
    sandbox = "workspace"           # off | workspace | readonly (env LOCI_SANDBOX)
    network = true                  # false: code gets no network (needs the sandbox)
    memory_mb = 4096                # per kernel process; default 3/4 of RAM; 0 = no limit
    max_processes = 512             # processes + threads of one kernel; 0 = no limit
    max_output_mb = 10              # output kept and shown per execution; 0 = no limit
    kernel_gateway = "http://gw:8888"  # run kernels on a Jupyter (Enterprise) Kernel Gateway
    gateway_token = "..."           # its auth token (env LOCI_GATEWAY_TOKEN)
    gateway_kernel = "python3"      # the gateway's kernelspec for Python blocks
    expose = ["~/.aws"]             # protected locations shown to the code, read-only
    pass_env = ["HF_TOKEN"]         # secret-looking variables the kernels get anyway

The workspace is never ``/``, the home folder or a folder above it while a sandbox is asked
for: started there, loci works in ``~/loci-workspace`` instead (``Settings.started_in`` keeps
where the user was, so the files they name there are still found).
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def loci_home(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    raw = env.get("LOCI_HOME") or str(Path.home() / ".loci")
    return Path(raw).expanduser()


@dataclass(frozen=True)
class Settings:
    home: Path = field(default_factory=loci_home)
    model: str = "local"
    api_base: str | None = None
    api_key: str | None = None
    anthropic_api_key: str | None = None
    auto_run: bool = False
    timeout: float | None = 120.0
    max_steps: int = 10
    workdir: Path = field(default_factory=Path.cwd)
    python: str | None = None  # interpreter for the Python kernel; None = loci's own
    models_dir: Path | None = None  # where embedded models live; None = home/models
    tools: str = "auto"  # native tool calls: "auto" (on for OpenAI/Anthropic proper), "on", "off"
    context_window: int | None = None  # override the model's context size (tokens)
    sandbox: str = "workspace"  # off | workspace | readonly (see loci.sandbox)
    network: bool = True  # False: cut the code's network access (enforced by the sandbox)
    memory_mb: int | None = None  # per kernel process; None = 3/4 of RAM, 0 = no limit
    max_processes: int = 512  # processes and threads of one kernel; 0 = no limit
    max_output_mb: float = 10.0  # output stored and shown per execution; 0 = no limit
    kernel_gateway: str | None = None  # URL of a Jupyter Kernel Gateway; None = local kernels
    gateway_token: str | None = None
    gateway_kernel: str | None = None  # kernelspec name for Python; None = the gateway's default
    expose: tuple[Path, ...] = ()  # protected locations (credential stores) shown, read-only
    pass_env: tuple[str, ...] = ()  # secret-looking variables passed to kernels on purpose
    started_in: Path | None = None  # the folder loci was started in, when not the workspace

    @property
    def db_path(self) -> Path:
        return self.home / "history.db"

    @property
    def config_path(self) -> Path:
        return self.home / "config.toml"

    @property
    def model_dir(self) -> Path:
        return self.models_dir or self.home / "models"

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


_FILE_KEYS: dict[str, type | tuple[type, ...]] = {
    "model": str,
    "api_base": str,
    "api_key": str,
    "anthropic_api_key": str,
    "auto_run": bool,
    "timeout": (int, float),
    "max_steps": int,
    "python": str,
    "workdir": str,
    "models_dir": str,
    "tools": str,
    "context_window": int,
    "sandbox": str,
    "network": bool,
    "memory_mb": int,
    "max_processes": int,
    "max_output_mb": (int, float),
    "kernel_gateway": str,
    "gateway_token": str,
    "gateway_kernel": str,
    "expose": list,
    "pass_env": list,
}
SANDBOX_MODES = ("off", "workspace", "readonly")


def read_config_file(path: Path) -> dict[str, Any]:
    """Parse config.toml; a malformed file is a ConfigError naming the file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc
    for key, value in data.items():
        if key not in _FILE_KEYS:
            raise ConfigError(
                f"{path}: unknown setting {key!r} (known: {', '.join(sorted(_FILE_KEYS))})"
            )
        expected = _FILE_KEYS[key]
        if isinstance(value, bool) and expected is not bool:
            ok = False
        else:
            ok = isinstance(value, expected)
        if isinstance(value, list) and not all(isinstance(v, str) for v in value):
            ok = False
        if not ok:
            raise ConfigError(f"{path}: {key} has the wrong type ({type(value).__name__})")
    return data


def _env_settings(env: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if env.get("LOCI_MODEL"):
        out["model"] = env["LOCI_MODEL"]
    if env.get("OPENAI_BASE_URL"):
        out["api_base"] = env["OPENAI_BASE_URL"]
    if env.get("OPENAI_API_KEY"):
        out["api_key"] = env["OPENAI_API_KEY"]
    if env.get("ANTHROPIC_API_KEY"):
        out["anthropic_api_key"] = env["ANTHROPIC_API_KEY"]
    if env.get("LOCI_MODELS_DIR"):
        out["models_dir"] = env["LOCI_MODELS_DIR"]
    if env.get("LOCI_SANDBOX"):
        out["sandbox"] = env["LOCI_SANDBOX"]
    if env.get("LOCI_KERNEL_GATEWAY"):
        out["kernel_gateway"] = env["LOCI_KERNEL_GATEWAY"]
    if env.get("LOCI_GATEWAY_TOKEN"):
        out["gateway_token"] = env["LOCI_GATEWAY_TOKEN"]
    return out


def _coerce(values: dict[str, Any]) -> dict[str, Any]:
    out = dict(values)
    for key in ("workdir", "models_dir"):
        if isinstance(out.get(key), str):
            out[key] = Path(out[key]).expanduser()
    if "expose" in out:
        out["expose"] = tuple(Path(p).expanduser() for p in out["expose"])
    if "pass_env" in out:
        out["pass_env"] = tuple(out["pass_env"])
    if "timeout" in out and out["timeout"] is not None:
        t = float(out["timeout"])
        if t < 0:
            raise ConfigError(f"timeout must be >= 0 seconds, got {t:g}")
        out["timeout"] = t or None
    if "max_steps" in out and int(out["max_steps"]) < 1:
        raise ConfigError(f"max_steps must be at least 1, got {out['max_steps']}")
    if "sandbox" in out and out["sandbox"] not in SANDBOX_MODES:
        raise ConfigError(
            f"sandbox must be one of {', '.join(SANDBOX_MODES)}, got {out['sandbox']!r}"
        )
    gateway = out.get("kernel_gateway")
    if gateway and not str(gateway).startswith(("http://", "https://")):
        raise ConfigError(f"kernel_gateway must be an http:// or https:// URL, got {gateway!r}")
    for key in ("memory_mb", "max_processes", "max_output_mb"):
        if key in out and out[key] is not None and out[key] < 0:
            raise ConfigError(f"{key} must be >= 0, got {out[key]}")
    return out


def load_settings(
    flags: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None
) -> Settings:
    """Build Settings from every source. ``flags`` holds only what the user passed."""
    env = os.environ if env is None else env
    home = loci_home(env)
    merged: dict[str, Any] = {}
    merged.update(read_config_file(home / "config.toml"))
    merged.update(_env_settings(env))
    merged.update({k: v for k, v in (flags or {}).items() if v is not None})
    values = _coerce(merged)
    if values.get("sandbox", "workspace") != "off":
        values.update(narrowed_workspace(Path(values.get("workdir") or Path.cwd())))
    return Settings(home=home, **values)


WORKSPACE_FOLDER = "loci-workspace"


def too_broad(folder: Path) -> bool:
    """``/``, the home folder, or a folder above it: too much to make writable."""
    folder = folder.expanduser().resolve()
    home = Path.home().resolve()
    return folder == Path("/") or folder == home or home.is_relative_to(folder)


def narrowed_workspace(folder: Path) -> dict[str, Path]:
    """For a folder that is ``too_broad``: work in ``~/loci-workspace`` and remember where
    the user started. Otherwise nothing changes."""
    if not too_broad(folder):
        return {}
    return {"workdir": Path.home() / WORKSPACE_FOLDER, "started_in": folder.expanduser()}
