"""Settings: defaults < ``LOCI_HOME/config.toml`` < environment < flags.

This is the only module that reads the environment. ``LOCI_HOME`` (default ``~/.loci``) holds
all user state: ``config.toml``, ``history.db``, ``models/``.

Each setting is declared once, as a field of ``Settings`` made by ``setting(...)``: the field's
name is its config.toml key, and the declaration (a ``Setting``, kept in the field's metadata)
gives its default, its ``Kind`` (the TOML type and how a value becomes the field's), the
environment variable and CLI flags that set it, its choices or lower bound, and its help.
``SETTINGS`` lists them; the loader, the validation, the CLI options (``loci.cli.options``)
and the README's table (``settings_markdown``, checked by a test) are all made from it.

To add a setting, add its field here with ``setting(default, kind, help, ...)``; to give it a
CLI option, declare its ``flags`` and name it in a group in ``loci.cli.options`` (or put
``setting_option(name)`` on the command); then paste ``settings_markdown()`` into the README.

A small table of our own rather than pydantic-settings: loci's settings are a couple of dozen
flat values with one rule each, pydantic would be a new dependency of the base install and
costs tens of milliseconds on ``import loci``, its messages differ from the ones users (and
tests) see, and the CLI options would still need writing out for click.

``mcp_servers`` is the one setting that is a table (``[mcp_servers.NAME]``, as in Claude
Desktop, Cursor and Codex): each becomes an ``McpServer``, checked key by key in
``loci.mcp_servers`` (plain data: no MCP SDK is imported for it).

The workspace is never ``/``, the home folder or a folder above it while a sandbox is asked
for: started there, loci works in ``~/loci-workspace`` instead (``Settings.started_in`` keeps
where the user was, so the files they name there are still found).
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from .errors import ConfigError
from .mcp_servers import McpServer, mcp_servers

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

T = TypeVar("T")


def loci_home(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    raw = env.get("LOCI_HOME") or str(Path.home() / ".loci")
    return Path(raw).expanduser()


def _same(value: Any) -> Any:
    return value


@dataclass(frozen=True)
class Kind:
    """How a setting is written in config.toml and becomes its field's value."""

    name: str  # as the README's table says it
    toml: tuple[type, ...]  # the TOML types accepted (a list: of strings)
    convert: Callable[[Any], Any] = _same
    show: Callable[[Any], str] = str  # a number as an error message shows it


def _folder(value: Any) -> Any:
    return Path(value).expanduser() if isinstance(value, str) else value


TEXT = Kind("string", (str,))
SWITCH = Kind("bool", (bool,))
WHOLE = Kind("integer", (int,))
NUMBER = Kind("number", (int, float))
SECONDS = Kind("seconds", (int, float), lambda v: float(v) or None, lambda v: f"{float(v):g}")
FOLDER = Kind("path", (str,), _folder)
PATHS = Kind("list of paths", (list,), lambda v: tuple(Path(p).expanduser() for p in v))
NAMES = Kind("list of names", (list,), tuple)


@dataclass(frozen=True)
class Setting:
    """One setting's declaration (see ``setting``); ``name`` and ``default`` come from its
    field. A switch's flag turns it away from its default (``-y``, ``--no-network``)."""

    kind: Kind
    help: str  # the CLI option's help and the README's description
    env: str | None = None  # the environment variable that sets it (when not empty)
    flags: tuple[str, ...] = ()  # its CLI option's names; () = no option
    metavar: str | None = None
    choices: tuple[str, ...] = ()
    loose: bool = False  # True: only the CLI holds a value to the choices; its user checks it
    minimum: float | None = None
    check: Callable[[Any], bool] | None = None  # another rule a value must keep
    rule: str = ""  # how an error states the rule (default: from choices or minimum)
    shown_default: str | None = None  # the README's default, where the value says too little
    name: str = ""
    default: Any = None

    def value(self, raw: Any) -> Any:
        """``raw`` (from the file, the environment or a flag) as the field's value; a
        ConfigError when it breaks the setting's rule."""
        if raw is None:
            return None
        if (
            (self.choices and not self.loose and raw not in self.choices)
            or (self.minimum is not None and raw < self.minimum)
            or (self.check is not None and not self.check(raw))
        ):
            rule = self.rule or (
                f"one of {', '.join(self.choices)}" if self.choices else f">= {self.minimum}"
            )
            shown = repr(raw) if isinstance(raw, str) else self.kind.show(raw)
            raise ConfigError(f"{self.name} must be {rule}, got {shown}")
        return self.kind.convert(raw)


_KEY = "loci.setting"


def about(kind: Kind, help: str, **rules: Any) -> dict[str, Setting]:
    """A field's metadata declaring it a setting; ``rules`` are ``Setting``'s other fields."""
    return {_KEY: Setting(kind, help, **rules)}


def setting(default: T, kind: Kind, help: str, **rules: Any) -> T:
    """A ``Settings`` field that is a setting (a config.toml key of the same name)."""
    return field(default=default, metadata=about(kind, help, **rules))


def _is_url(value: Any) -> bool:
    return not value or str(value).startswith(("http://", "https://"))


SANDBOX_MODES = ("off", "workspace", "readonly")
SERVERS = Kind("tables", (dict,), mcp_servers)


@dataclass(frozen=True)
class Settings:
    """Everything loci is configured with; every field but ``home`` and ``started_in`` is a
    setting (see the module's docstring)."""

    home: Path = field(default_factory=loci_home)
    model: str = setting(
        "local",
        TEXT,
        "local | local:NAME | local:FILE.gguf | openai:NAME | anthropic:NAME | scripted:FILE",
        env="LOCI_MODEL",
        flags=("-m", "--model"),
    )
    api_base: str | None = setting(
        None,
        TEXT,
        "OpenAI-compatible server URL (Ollama, vLLM, llama.cpp, …)",
        env="OPENAI_BASE_URL",
        flags=("--api-base",),
    )
    api_key: str | None = setting(
        None,
        TEXT,
        "API key for the model provider",
        env="OPENAI_API_KEY",
        flags=("--api-key",),
    )
    anthropic_api_key: str | None = setting(
        None, TEXT, "API key for Anthropic models", env="ANTHROPIC_API_KEY"
    )
    auto_run: bool = setting(False, SWITCH, "Run code without asking", flags=("-y", "--yes"))
    timeout: float | None = setting(
        120.0,
        SECONDS,
        "Seconds per execution (0: none)",
        flags=("--timeout",),
        minimum=0,
        rule=">= 0 seconds",
    )
    max_steps: int = setting(
        10,
        WHOLE,
        "Cap on code rounds per request",
        flags=("--max-steps",),
        minimum=1,
        rule="at least 1",
    )
    effort: int = setting(
        1,
        WHOLE,
        "Attempts per request that ran code: above 1, it is solved again that many times in "
        "all and the answer most attempts agree on is kept (loci.vote)",
        flags=("--effort",),
        minimum=1,
        rule="at least 1",
    )
    workdir: Path = field(
        default_factory=Path.cwd,
        metadata=about(
            FOLDER,
            "Where code runs (default: the current directory)",
            flags=("--workdir",),
            shown_default="the current directory",
        ),
    )
    python: str | None = setting(
        None,
        TEXT,
        "Python interpreter for the kernel (e.g. a venv's)",
        flags=("--python",),
        shown_default="loci's own",
    )
    models_dir: Path | None = setting(  # noqa: RUF009 (it returns a field, as field() does)
        None,
        FOLDER,
        "Where embedded models live",
        env="LOCI_MODELS_DIR",
        shown_default="`LOCI_HOME/models`",
    )
    tools: str = setting(
        "auto",
        TEXT,
        "Native tool calls",
        flags=("--tools",),
        choices=("auto", "on", "off"),
        loose=True,  # loci.models.registry checks it, in any case ("ON" too)
    )
    vision: str = setting(
        "auto",
        TEXT,
        "Show the model the images code draws and requests name: auto (OpenAI's vision "
        "models and Claude), on (e.g. a vision model on an OpenAI-compatible server) or off",
        env="LOCI_VISION",
        choices=("auto", "on", "off"),
        loose=True,  # loci.models.registry checks it, in any case ("ON" too)
    )
    context_window: int | None = setting(
        None, WHOLE, "Override the model's context size (tokens)", shown_default="the model's"
    )
    sandbox: str = setting(
        "workspace",
        TEXT,
        "Confine the code: writes only to the workspace (default), only to temp, or off",
        env="LOCI_SANDBOX",
        flags=("--sandbox",),
        choices=SANDBOX_MODES,
    )
    network: bool = setting(True, SWITCH, "Cut the code's network access", flags=("--no-network",))
    recipes: bool = setting(
        True, SWITCH, "Give the model no worked examples (loci.recipes)", flags=("--no-recipes",)
    )
    compact: bool = setting(
        True,
        SWITCH,
        "Drop the oldest turns that no longer fit instead of sending a digest (loci.compaction)",
        flags=("--no-compact",),
    )
    compact_with: str = setting(
        "auto",
        TEXT,
        "Who writes the summary of compacted turns: the model (a separate call; the digest "
        "if it fails), a digest built from the history, or auto (the model, unless it is "
        "an embedded one)",
        env="LOCI_COMPACT_WITH",
        choices=("auto", "model", "digest"),
    )
    kernel_state: bool = setting(
        True,
        SWITCH,
        "Tell the model nothing of what the Python kernel holds (loci.kernel_state)",
        flags=("--no-kernel-state",),
    )
    agents_md: bool = setting(
        True,
        SWITCH,
        "Do not give the model the workspace's AGENTS.md (loci.instructions)",
        flags=("--no-agents-md",),
    )
    memory_mb: int | None = setting(
        None,
        WHOLE,
        "Memory per kernel process (0: none)",
        flags=("--memory-mb",),
        minimum=0,
        shown_default="¾ of RAM",
    )
    max_processes: int = setting(
        512, WHOLE, "Processes per kernel (0: none)", flags=("--max-processes",), minimum=0
    )
    max_output_mb: float = setting(
        10.0, NUMBER, "Output kept per execution (0: none)", flags=("--max-output-mb",), minimum=0
    )
    kernel_gateway: str | None = setting(
        None,
        TEXT,
        "Run kernels on a Jupyter Kernel Gateway",
        env="LOCI_KERNEL_GATEWAY",
        flags=("--kernel-gateway",),
        metavar="URL",
        check=_is_url,
        rule="an http:// or https:// URL",
        shown_default="local kernels",
    )
    gateway_token: str | None = setting(
        None,
        TEXT,
        "The gateway's auth token (or LOCI_GATEWAY_TOKEN)",
        env="LOCI_GATEWAY_TOKEN",
        flags=("--gateway-token",),
    )
    gateway_kernel: str | None = setting(
        None, TEXT, "The gateway's kernelspec for Python blocks", shown_default="the gateway's"
    )
    expose: tuple[Path, ...] = setting(
        (),
        PATHS,
        "Show a protected location (e.g. ~/.aws) to the code, read-only (repeatable)",
        flags=("--expose",),
        metavar="PATH",
    )
    pass_env: tuple[str, ...] = setting(
        (),
        NAMES,
        "Pass a secret-looking environment variable to the code (repeatable)",
        flags=("--pass-env",),
        metavar="NAME",
    )
    mcp_servers: tuple[McpServer, ...] = setting(
        (),
        SERVERS,
        "MCP servers whose tools the model may call: `[mcp_servers.NAME]` tables (see "
        "[MCP servers as tools](#mcp-servers-as-tools))",
        shown_default="none",
    )
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


def _declared(f: dataclasses.Field[Any]) -> Setting:
    spec: Setting = f.metadata[_KEY]
    default = None if f.default is dataclasses.MISSING else f.default
    return dataclasses.replace(spec, name=f.name, default=default)


SETTINGS: dict[str, Setting] = {
    f.name: _declared(f) for f in dataclasses.fields(Settings) if _KEY in f.metadata
}


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
        if key not in SETTINGS:
            raise ConfigError(
                f"{path}: unknown setting {key!r} (known: {', '.join(sorted(SETTINGS))})"
            )
        if not _has_type(value, SETTINGS[key].kind):
            raise ConfigError(f"{path}: {key} has the wrong type ({type(value).__name__})")
    return data


def _has_type(value: Any, kind: Kind) -> bool:
    """A TOML value of the kind's type (a bool is no number; a list holds strings)."""
    if isinstance(value, bool) and kind.toml != (bool,):
        return False
    if isinstance(value, list) and not all(isinstance(v, str) for v in value):
        return False
    return isinstance(value, kind.toml)


def _env_settings(env: Mapping[str, str]) -> dict[str, Any]:
    return {s.name: env[s.env] for s in SETTINGS.values() if s.env and env.get(s.env)}


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
    values = {k: v for k, v in merged.items() if k not in SETTINGS}
    for s in SETTINGS.values():  # checked in the order declared
        if s.name in merged:
            values[s.name] = s.value(merged[s.name])
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


def working_in(settings: Settings, folder: Path) -> Settings:
    """``settings`` for work in ``folder`` (an editor's project, say), under the rule
    ``load_settings`` applies to the current directory: too broad a folder, with a sandbox,
    gives ``~/loci-workspace`` and is kept as ``started_in``."""
    folder = folder.expanduser().resolve()
    changes: dict[str, Any] = {"workdir": folder, "started_in": None}
    if settings.sandbox != "off":
        changes.update(narrowed_workspace(folder))
    return settings.replace(**changes)


def settings_markdown() -> str:
    """The README's table of settings, made from ``SETTINGS`` (a test keeps them equal)."""
    rows = [
        "| key | type | default | environment | flag | what |",
        "|---|---|---|---|---|---|",
    ]
    for s in SETTINGS.values():
        kind = " \\| ".join(f"`{c}`" for c in s.choices) if s.choices else s.kind.name
        env = f"`{s.env}`" if s.env else ""
        flags = ", ".join(f"`{f}`" for f in s.flags)
        what = s.help.replace("|", "\\|")
        rows.append(f"| `{s.name}` | {kind} | {_shown_default(s)} | {env} | {flags} | {what} |")
    return "\n".join(rows) + "\n"


def _shown_default(s: Setting) -> str:
    if s.shown_default is not None:
        return s.shown_default
    if s.default is None:
        return "none"
    if isinstance(s.default, bool):
        return f"`{str(s.default).lower()}`"
    if isinstance(s.default, str):
        return f'`"{s.default}"`'
    if isinstance(s.default, float):
        return f"`{s.default:g}`"
    if isinstance(s.default, tuple):
        return "`[]`"
    return f"`{s.default}`"
