"""Which code is risky enough to stop for a person, even with auto-run on. Pure functions.

``assess(language, code, workspace=..., home=...)`` returns the ``Risk``s found, each with a
category and a reason a person can read:

    delete       deletes something outside the workspace and temp (``rm -rf ~``,
                 ``shutil.rmtree('/etc')``, ``Path.home().unlink()``)
    credentials  touches credentials: ~/.ssh, cloud keys (~/.aws, ~/.config/gcloud, ~/.azure,
                 ~/.kube), ~/.gnupg, ~/.netrc, browser profiles, keyrings
    system       changes the system: sudo/su/doas, the OS's package managers, crontab,
                 systemctl, writing shell startup files (~/.bashrc …)
    network      pipes the network into a shell (``curl … | sh``, ``exec(urlopen(…).read())``)

Shell is parsed with bashlex (a port of bash's own parser); Python with ``ast`` (IPython's
``!cmd`` lines and ``%%bash`` cells are assessed as shell). When bashlex cannot parse a
script, each line is split with ``shlex`` and the same command rules apply. What cannot be
known statically (a path held in a variable) is not flagged: this is a seat belt against
accidents and obvious hostility, the sandbox is the wall.
"""

from __future__ import annotations

import ast
import os
import re
import shlex
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from .protected import CREDENTIALS, STARTUP
from .protected import within as _within

__all__ = ["Risk", "RiskContext", "assess", "summary"]

Category = Literal["delete", "credentials", "system", "network"]

# one list of credential stores and startup files for the rules and the sandbox
CREDENTIAL_DIRS = CREDENTIALS
CREDENTIAL_NAMES = frozenset({"id_rsa", "id_ed25519", "id_ecdsa", "id_dsa", "authorized_keys"})
RC_FILES = frozenset(STARTUP)
PRIVILEGE = frozenset({"sudo", "su", "doas", "pkexec", "runas"})
PACKAGE_MANAGERS = frozenset({
    "apt", "apt-get", "aptitude", "dpkg", "dnf", "yum", "rpm", "zypper", "pacman", "yay",
    "apk", "emerge", "brew", "port", "snap", "flatpak", "nix-env",
})  # fmt: skip
READ_ONLY_SUBCOMMANDS = frozenset({
    "list", "search", "show", "info", "policy", "query", "-Q", "-Ss", "-Qi", "--version",
    "-l", "-L", "-s", "status", "help", "--help", "outdated", "deps", "madison", "depends",
})  # fmt: skip
SYSTEM_COMMANDS = frozenset({
    "systemctl", "launchctl", "chsh", "usermod", "useradd", "userdel", "passwd", "visudo",
    "mkfs", "fdisk", "parted", "mount", "umount", "shutdown", "reboot", "halt", "update-rc.d",
})  # fmt: skip
DELETERS = frozenset({"rm", "rmdir", "shred", "unlink", "srm"})
FETCHERS = frozenset({"curl", "wget", "fetch", "http", "aria2c"})
SHELLS = frozenset({
    "sh", "bash", "zsh", "dash", "ksh", "fish", "python", "python3", "perl", "ruby", "node",
    "php", "source", ".", "eval",
})  # fmt: skip
WRAPPERS = frozenset(
    {
        "env",
        "nohup",
        "time",
        "nice",
        "command",
        "exec",
        "xargs",
        "timeout",
        "then",
        "do",
        "else",
        "elif",
        "if",
        "while",
        "until",
        "{",
        "(",
        "!",
    }
)  # fmt: skip  (the reserved words matter when the shlex fallback splits a line)
_PY_DELETERS = frozenset({"rmtree", "remove", "unlink", "rmdir", "removedirs"})
_PY_SHELL_CALLS = frozenset({
    "system", "popen", "run", "call", "check_call", "check_output", "Popen", "getoutput",
    "getstatusoutput", "spawnl", "execl",
})  # fmt: skip
_PY_FETCH = frozenset({"urlopen", "get", "post", "request", "urlretrieve", "fetch"})


@dataclass(frozen=True)
class Risk:
    category: Category
    reason: str


@dataclass(frozen=True)
class RiskContext:
    """Where "outside" is: the workspace, the user's home, and temp folders (not outside)."""

    workspace: Path
    home: Path = field(default_factory=Path.home)
    temp: tuple[Path, ...] = field(
        default_factory=lambda: tuple(Path(p) for p in {"/tmp", "/var/tmp", tempfile.gettempdir()})
    )
    exposed: tuple[Path, ...] = ()  # credential stores the user showed to the code on purpose

    def resolve(self, word: str, cwd: Path | None = None) -> Path:
        """A path as the code would see it: ``~``, ``$HOME`` and relative paths resolved."""
        text = re.sub(r"^(\$HOME|\$\{HOME\})(?=/|$)", "~", word.strip("\"'"))
        if text == "~" or text.startswith("~/"):
            text = str(self.home) + text[1:]
        path = PurePosixPath(text)
        if not path.is_absolute():
            path = PurePosixPath(cwd or self.workspace) / path
        return Path(os.path.normpath(str(path)))

    def outside(self, path: Path) -> bool:
        return not any(_within(path, root) for root in (self.workspace, *self.temp))

    def credential(self, path: Path) -> str | None:
        if any(_within(path, p) for p in self.exposed):
            return None
        if path.name in CREDENTIAL_NAMES:
            return str(path)
        for rel in CREDENTIAL_DIRS:
            if _within(path, self.home / rel):
                return str(path)
        return None

    def rc_file(self, path: Path) -> bool:
        return any(_within(path, self.home / rc) for rc in RC_FILES)

    def show(self, path: Path) -> str:
        """``~/...`` for paths in the home folder."""
        if _within(path, self.home):
            rel = path.relative_to(self.home)
            return "~" if str(rel) == "." else f"~/{rel}"
        return str(path)


def assess(
    language: str,
    code: str,
    *,
    workspace: Path,
    home: Path | None = None,
    exposed: tuple[Path, ...] = (),
) -> list[Risk]:
    """The risks in ``code`` (empty when there are none), without duplicates, in order."""
    ctx = RiskContext(workspace=Path(workspace), home=Path(home or Path.home()), exposed=exposed)
    # a call to an MCP tool is Python in form: its paths and strings are read by the same rules
    python = language in ("python", "mcp")
    found = python_risks(code, ctx) if python else shell_risks(code, ctx)
    return list(dict.fromkeys(found))


def summary(risks: list[Risk]) -> str:
    """One line: the reasons, joined."""
    return "; ".join(r.reason for r in risks)


# -- shell ------------------------------------------------------------------------------------


def shell_risks(code: str, ctx: RiskContext) -> list[Risk]:
    try:
        import bashlex

        trees = bashlex.parse(code)
    except Exception:  # bashlex raises ParsingError, NotImplementedError, AssertionError…
        return _fallback_shell(code, ctx)
    risks: list[Risk] = []
    cwd = [ctx.workspace]
    for tree in trees:
        risks.extend(_walk_shell(tree, ctx, cwd))
    return risks


def _fallback_shell(code: str, ctx: RiskContext) -> list[Risk]:
    risks: list[Risk] = []
    for line in code.splitlines():
        for part in re.split(r"&&|\|\||;", line):
            try:
                words = shlex.split(part, comments=True)
            except ValueError:
                words = part.split()
            risks.extend(_command_risks(words, [], ctx, ctx.workspace))
        stages = [s.split() for s in line.split("|")]
        risks.extend(_pipe_risks([s[0] for s in stages if s]))
    return risks


def _walk_shell(node: Any, ctx: RiskContext, cwd: list[Path]) -> Iterator[Risk]:
    kind = getattr(node, "kind", "")
    if kind == "pipeline":
        commands = [p for p in node.parts if getattr(p, "kind", "") == "command"]
        yield from _pipe_risks([_command_name(_words(c)) for c in commands])
    if kind == "command":
        words = _words(node)
        redirects = [
            p.output.word
            for p in node.parts
            if getattr(p, "kind", "") == "redirect" and hasattr(p.output, "word")
        ]
        name = _command_name(words)
        if name == "cd" and len(words) > 1:
            cwd[0] = Path(ctx.resolve(words[-1], cwd[0]))
        yield from _command_risks(words, redirects, ctx, cwd[0])
        if name in SHELLS and _has_fetch(node):
            yield Risk("network", f"runs what it downloads in a shell ({name} $(curl …))")
    for child in _children(node):
        yield from _walk_shell(child, ctx, cwd)


def _children(node: Any) -> list[Any]:
    out: list[Any] = []
    for attr in ("parts", "list"):
        value = getattr(node, attr, None)
        if isinstance(value, list):
            out.extend(value)
    for attr in ("command", "output"):
        value = getattr(node, attr, None)
        if value is not None and not isinstance(value, (str, int)):
            out.append(value)
    return out


def _words(node: Any) -> list[str]:
    return [p.word for p in getattr(node, "parts", []) if getattr(p, "kind", "") == "word"]


def _has_fetch(node: Any) -> bool:
    for child in _children(node):
        if getattr(child, "kind", "") == "command" and _command_name(_words(child)) in FETCHERS:
            return True
        if _has_fetch(child):
            return True
    return False


def _command_name(words: list[str]) -> str:
    """The program a command runs, past ``VAR=x`` assignments and wrappers like ``env``."""
    for word in _strip(words):
        return PurePosixPath(word).name
    return ""


def _strip(words: list[str]) -> list[str]:
    rest = list(words)
    while rest and (re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", rest[0]) or rest[0] in WRAPPERS):
        rest.pop(0)
    return rest


def _pipe_risks(names: list[str]) -> list[Risk]:
    for i, name in enumerate(names):
        if name in FETCHERS:
            later = [n for n in names[i + 1 :] if n in SHELLS or n in PRIVILEGE]
            if later:
                return [Risk("network", f"pipes the network into a shell ({name} … | {later[0]})")]
    return []


def _command_risks(
    words: list[str], redirects: list[str], ctx: RiskContext, cwd: Path
) -> list[Risk]:
    words = _strip(words)
    if not words:
        return []
    name = PurePosixPath(words[0]).name
    risks: list[Risk] = []
    if name in PRIVILEGE:
        risks.append(Risk("system", f"runs as another user ({name})"))
        risks.extend(_command_risks(words[1:], redirects, ctx, cwd))
        return risks
    args = [w for w in words[1:] if not w.startswith("-")]
    if name in PACKAGE_MANAGERS and args and args[0] not in READ_ONLY_SUBCOMMANDS:
        risks.append(Risk("system", f"changes the system's packages ({name} {args[0]})"))
    if name == "crontab" and "-l" not in words:
        risks.append(Risk("system", "changes scheduled jobs (crontab)"))
    if name in SYSTEM_COMMANDS or name.startswith("mkfs"):
        risks.append(Risk("system", f"changes the system ({name})"))
    paths = [ctx.resolve(w, cwd) for w in [*words[1:], *redirects] if not w.startswith("-")]
    if name in DELETERS or (name == "find" and "-delete" in words):
        risks.extend(
            Risk("delete", f"deletes outside the workspace ({name} {ctx.show(p)})")
            for p in paths[: 1 if name == "find" else None]
            if ctx.outside(p)
        )
    risks.extend(_path_risks(paths, [ctx.resolve(r, cwd) for r in redirects], name, ctx))
    return risks


def _path_risks(paths: list[Path], written: list[Path], name: str, ctx: RiskContext) -> list[Risk]:
    risks: list[Risk] = []
    for path in paths:
        if ctx.credential(path):
            risks.append(Risk("credentials", f"touches credentials ({ctx.show(path)})"))
        if ctx.rc_file(path) and (path in written or name in {"tee", "sed", "cp", "mv", "ln"}):
            risks.append(Risk("system", f"changes a shell startup file ({ctx.show(path)})"))
    return risks


# -- python -----------------------------------------------------------------------------------

_MAGIC_SHELL = re.compile(r"^\s*(?:[A-Za-z_][A-Za-z0-9_]*\s*=\s*)?!(.*)$")


def python_risks(code: str, ctx: RiskContext) -> list[Risk]:
    """Python (with IPython's ``!cmd`` lines and ``%%bash``/``%%sh`` cells) via ``ast``."""
    first = code.lstrip().split("\n", 1)
    if first[0].strip() in ("%%bash", "%%sh", "%%script bash", "%%script sh"):
        return shell_risks(first[1] if len(first) > 1 else "", ctx)
    shell: list[str] = []
    lines: list[str] = []
    for line in code.splitlines():
        magic = _MAGIC_SHELL.match(line)
        if magic:
            shell.append(magic.group(1))
        if magic or line.lstrip().startswith("%"):
            indent = line[: len(line) - len(line.lstrip())]
            lines.append(f"{indent}pass")
        else:
            lines.append(line)
    risks = shell_risks("\n".join(shell), ctx) if shell else []
    try:
        tree = ast.parse("\n".join(lines))
    except (SyntaxError, ValueError):
        return risks  # it will not run either
    return risks + list(_python_tree_risks(tree, ctx))


def _python_tree_risks(tree: ast.AST, ctx: RiskContext) -> Iterator[Risk]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield from _python_string_risks(node.value, ctx)
        if isinstance(node, ast.Call):
            yield from _python_call_risks(node, ctx)


def _python_string_risks(text: str, ctx: RiskContext) -> Iterator[Risk]:
    if "\n" in text or len(text) > 300:
        return
    stripped = text.strip("/")
    if stripped in {c for c in CREDENTIAL_DIRS if "/" not in c} | CREDENTIAL_NAMES:
        yield Risk("credentials", f"touches credentials ({text})")
        return
    if text.startswith(("~", "/", "$HOME")):
        path = ctx.resolve(text)
        if ctx.credential(path):
            yield Risk("credentials", f"touches credentials ({ctx.show(path)})")


def _call_name(func: ast.expr) -> str:
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return ""


def _static_path(node: ast.expr, ctx: RiskContext) -> Path | None:
    """The path an expression surely names: literals, ``~``, ``Path.home()``, ``/`` joins."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return ctx.resolve(node.value)
    if isinstance(node, ast.Call):
        name = _call_name(node.func)
        if name == "home":
            return ctx.home
        if name in {"Path", "PurePath", "expanduser", "abspath", "realpath", "resolve"}:
            inner = node.args[0] if node.args else getattr(node.func, "value", None)
            return _static_path(inner, ctx) if isinstance(inner, ast.expr) else None
        if name == "join" and node.args:
            parts = [_static_path(a, ctx) if i == 0 else a for i, a in enumerate(node.args)]
            return _joined(parts, ctx)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
        return _joined([_static_path(node.left, ctx), node.right], ctx)
    if isinstance(node, ast.Attribute) and node.attr in {"parent", "expanduser"}:
        return _static_path(node.value, ctx)
    return None


def _joined(parts: list[Any], ctx: RiskContext) -> Path | None:
    base = parts[0]
    if not isinstance(base, Path):
        return None
    for part in parts[1:]:
        if not (isinstance(part, ast.Constant) and isinstance(part.value, str)):
            return base  # at least somewhere under base
        base = Path(os.path.normpath(base / part.value))
    return base


def _python_call_risks(node: ast.Call, ctx: RiskContext) -> Iterator[Risk]:
    name = _call_name(node.func)
    if name in _PY_DELETERS:
        target = node.args[0] if node.args else getattr(node.func, "value", None)
        path = _static_path(target, ctx) if isinstance(target, ast.expr) else None
        if path is not None and ctx.outside(path):
            yield Risk("delete", f"deletes outside the workspace ({name} {ctx.show(path)})")
    if name in _PY_SHELL_CALLS and node.args:
        command = _literal_command(node.args[0])
        if command:
            yield from shell_risks(command, ctx)
    if name in {"open", "write_text", "write_bytes"}:
        yield from _python_write_risks(node, name, ctx)
    if name in {"exec", "eval"} and any(
        isinstance(n, ast.Call) and _call_name(n.func) in _PY_FETCH for n in ast.walk(node)
    ):
        yield Risk("network", f"runs code downloaded from the network ({name}(…))")


def _python_write_risks(node: ast.Call, name: str, ctx: RiskContext) -> Iterator[Risk]:
    target = node.args[0] if name == "open" and node.args else getattr(node.func, "value", None)
    path = _static_path(target, ctx) if isinstance(target, ast.expr) else None
    if path is None or not ctx.rc_file(path):
        return
    mode = node.args[1] if name == "open" and len(node.args) > 1 else None
    writes = name != "open" or (
        isinstance(mode, ast.Constant)
        and isinstance(mode.value, str)
        and set(mode.value) & set("wax+")
    )
    if writes:
        yield Risk("system", f"changes a shell startup file ({ctx.show(path)})")


def _literal_command(node: ast.expr) -> str:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, (ast.List, ast.Tuple)):
        words = [
            e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)
        ]
        return shlex.join(words) if len(words) == len(node.elts) else ""
    return ""
