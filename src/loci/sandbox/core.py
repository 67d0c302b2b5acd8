"""How a kernel process is confined, and the command line that does it.

    sandbox = Sandbox("workspace", workspace=Path("~/proj"), home=Path("~/.loci"), network=False)
    argv = sandbox.command(["python", "-m", "ipykernel_launcher", "-f", conn], private=[tmpdir])

Modes (``--sandbox``):

``workspace``  bubblewrap: the whole file system read-only (``--ro-bind / /``), writable binds
               for the workspace, the kernel's venv in ``LOCI_HOME`` and the kernel's private
               socket folder, read-only ones for the ``shown`` folders under temp (the MCP
               bridge's socket); ``LOCI_HOME`` itself (the history database) stays read-only even
               when it lies inside the workspace; private ``/tmp`` and ``/var/tmp`` (tmpfs).
``readonly``   the same, but the workspace and the venv are read-only too: writes go to temp only.
``off``        no confinement: today's behaviour (limits still apply).

Always, when confined: new pid and user namespaces (``--unshare-pid``: a daemon the code leaves
behind dies with the kernel; ``kill -9 $PPID`` hits the namespace's init, which is immune),
``--die-with-parent`` (the sandbox dies with loci), capabilities dropped, no new privileges.
``network=False`` adds ``--unshare-net`` (only a loopback device inside).

Limits (``Limits``) are applied by ``_launch.py`` just before the kernel starts: memory as
RLIMIT_AS per process; processes as RLIMIT_NPROC inside the user namespace (non-root) or the
pid namespace's ``pid_max`` (root, which RLIMIT_NPROC exempts; Linux >= 6.14); output size and
wall time are enforced per execution by ``loci.execution`` and the kernels. This mirrors what
Codex CLI's Linux sandbox and Flatpak do with bubblewrap (read-only root, writable roots bound
back in, private /tmp, namespaces), without seccomp.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal, cast

from ..machine import memory_bytes
from ..protected import credential_paths, is_exposed
from ..protected import homes as protected_homes
from ..secret_env import withhold
from .mounts import TempRoot, View, protect_args
from .probe import Support, probe

__all__ = ["MODES", "Limits", "Sandbox", "SandboxMode", "default_memory_mb", "process_cap"]

SandboxMode = Literal["off", "workspace", "readonly"]
MODES: tuple[SandboxMode, ...] = ("off", "workspace", "readonly")
_LAUNCH = str(Path(__file__).with_name("_launch.py"))
_MB = 1024 * 1024


def default_memory_mb() -> int:
    """Three quarters of the memory loci may use (at least 2 GB): a runaway allocation fails
    with MemoryError in the kernel before the OS's OOM killer picks a victim."""
    total = memory_bytes()
    if not total:
        return 8192
    return max(2048, total * 3 // 4 // _MB)


@dataclass(frozen=True)
class Limits:
    """Resource limits. ``0`` (or ``None`` for memory: the default) means none."""

    memory_mb: int | None = None  # per process (RLIMIT_AS); None = default_memory_mb()
    processes: int = 512  # processes and threads of one kernel (needs the sandbox)
    output_bytes: int = 10 * _MB  # output stored and shown per execution
    tmp_mb: int = 1024  # size of the private /tmp

    @property
    def memory_bytes(self) -> int:
        mb = default_memory_mb() if self.memory_mb is None else self.memory_mb
        return mb * _MB


@dataclass(frozen=True)
class Sandbox:
    """The confinement asked for; ``active`` / ``describe`` say what is really enforced."""

    mode: SandboxMode = "workspace"
    workspace: Path = field(default_factory=Path.cwd)
    home: Path = field(default_factory=lambda: Path.home() / ".loci")
    network: bool = True
    limits: Limits = field(default_factory=Limits)
    writable: tuple[Path, ...] = ()  # more writable folders (the kernel's venv)
    support: Support | None = None  # None: probe this machine
    # hide LOCI_HOME (history, other conversations' workspaces) behind an empty tmpfs instead
    # of showing it read-only: what a server with many users needs
    private_home: bool = False
    expose: tuple[Path, ...] = ()  # protected locations the user shows to the code on purpose
    pass_env: frozenset[str] = frozenset()  # secret-looking variables passed on purpose
    temp_root: TempRoot | None = None  # host folders behind the private temp (KernelPool's)
    shown: tuple[Path, ...] = ()  # folders shown read-only at their own path (a bridge socket's)

    @classmethod
    def from_settings(cls, settings: object) -> Sandbox:
        """From ``loci.config.Settings`` (duck-typed so this package does not import it)."""
        s = cast("_SettingsLike", settings)
        limits = Limits(
            memory_mb=s.memory_mb,
            processes=s.max_processes,
            output_bytes=int(s.max_output_mb * _MB),
        )
        mode = cast(SandboxMode, s.sandbox)
        return cls(
            mode,
            Path(s.workdir),
            Path(s.home),
            network=s.network,
            limits=limits,
            expose=tuple(Path(p).expanduser() for p in s.expose),
            pass_env=frozenset(s.pass_env),
        )

    def with_writable(self, *paths: Path) -> Sandbox:
        return replace(self, writable=(*self.writable, *paths))

    @property
    def supported(self) -> Support:
        return self.support if self.support is not None else probe()

    @property
    def active(self) -> bool:
        """Whether a kernel really runs confined (asked for, and the OS can do it)."""
        return self.mode != "off" and self.supported.available

    @property
    def label(self) -> str:
        """What the store records for each execution: the confinement really in force."""
        if not self.active:
            return "off"
        return self.mode if self.network else f"{self.mode},no-network"

    @property
    def process_limit(self) -> int:
        """The process cap really in force (0: none)."""
        return process_cap(self.limits, self.supported) if self.active else 0

    def describe(self) -> str:
        """One line for start-up: what is enforced, and what is not and why."""
        mem = self.limits.memory_bytes // _MB
        limits = f"memory {mem} MB per process" if mem else "no memory limit"
        cap = self.process_limit
        if cap:
            limits += f", at most {cap} processes"
        elif self.limits.processes:
            limits += ", no process limit (needs a sandbox and user namespaces)"
        if self.mode == "off":
            return f"sandbox off: code runs with your full rights ({limits})"
        if not self.active:
            why = self.supported.reason
            return (
                f"sandbox {self.mode} requested but NOT enforced: {why}. Code runs with your "
                f"full rights; only approvals protect you ({limits})"
            )
        net = "network on" if self.network else "network cut"
        where = "workspace, kernel venv and temp" if self.mode == "workspace" else "temp only"
        return f"sandbox {self.mode}: writes to {where}; {net}; {limits}"

    def warning(self) -> str | None:
        """The start-up warning when what was asked for cannot be enforced here."""
        if self.mode != "off" and not self.active:
            return self.describe()
        if not self.network and not self.active:
            return "--no-network is NOT enforced: there is no sandbox here"
        return None

    # -- the command line ---------------------------------------------------------------------

    def command(self, argv: Sequence[str], *, private: Sequence[Path] = ()) -> list[str]:
        """``argv`` wrapped in the launcher (limits) and, when active, bubblewrap.
        ``private`` folders (the kernel's sockets, scripts) are bound writable inside."""
        inner = [sys.executable, "-I", "-S", _LAUNCH, "inner", *self._limit_args(), "--", *argv]
        if not self.active:
            return inner
        bwrap = self.supported.bwrap
        assert bwrap is not None
        outer = [sys.executable, "-I", "-S", _LAUNCH, "outer", "--", bwrap]
        return [*outer, *self.bwrap_args(private), "--", *inner]

    def _limit_args(self) -> list[str]:
        args: list[str] = []
        if self.limits.memory_bytes:
            args += ["--memory", str(self.limits.memory_bytes)]
        if self.active:
            if self.limits.processes:
                args += ["--processes", str(self.limits.processes)]
                args += ["--host-ns", _host_ns()]
            args.append("--drop-caps")
        return args

    def bwrap_args(self, private: Sequence[Path] = ()) -> list[str]:
        args = ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
        args += ["--unshare-pid", "--die-with-parent"]
        if self.supported.user_namespace:
            args.append("--unshare-user")
        if not self.network:
            args.append("--unshare-net")
        temps = temp_dirs()
        if self.temp_root is not None:
            args += self.temp_root.args()
        else:
            for tmp in temps:
                args += ["--size", str(self.limits.tmp_mb * _MB), "--tmpfs", tmp]
        for path in _python_dirs():  # loci's own Python, should it live under a temp dir
            if any(_inside(path, Path(t)) for t in temps):
                args += _bind("--ro-bind", path)
        rw = "--bind" if self.mode == "workspace" else "--ro-bind"
        for path in (self.workspace, *self.writable):
            args += _bind(rw, path)
        hidden = self._hidden()
        for path in hidden:  # LOCI_HOME (and the server owner's home): empty, private
            args += ["--tmpfs", str(path)]
        for path in _python_dirs():  # loci's own Python, should it live there
            if any(_inside(path, h) for h in hidden):
                args += _bind("--ro-bind", path)
        # Folders of LOCI_HOME that the code may write (a web conversation's workspace, the
        # kernel venv) are bound again over the hidden home.
        again = [p for p in (self.workspace, *self.writable) if any(_inside(p, h) for h in hidden)]
        args += [a for p in again for a in _bind(rw, p)]
        if self.home in hidden:  # nor can anything be written there (what is bound back can)
            args += ["--remount-ro", str(self.home)]
        writable = [self.workspace, *self.writable] if self.mode == "workspace" else []
        view = self._view(private)
        args += protect_args(
            homes=protected_homes(), writable=writable, exposed=self.expose, view=view
        )
        for path in private:
            args += _bind("--bind", path)
        for path in self.shown:  # a socket in a read-only bind still takes connections
            args += _bind("--ro-bind", path)
        args += ["--chdir", str(self.workspace)]
        return args

    def _view(self, private: Sequence[Path] = ()) -> View:
        """What the code sees of the host: the one answer for the mounts and ``hides``."""
        roots = [p.resolve() for p in (self.workspace, *self.writable) if p.exists()]
        return View(
            temps=tuple(Path(t) for t in temp_dirs()),
            hidden=tuple(self._hidden()),
            bound=(*roots, *map(Path, private), *self.shown, *_python_dirs()),
        )

    def _hidden(self) -> list[Path]:
        """LOCI_HOME (the history, config.toml with its keys, other conversations) and, with
        ``private_home``, this user's home too; outermost first."""
        candidates = {self.home, Path.home()} if self.private_home else {self.home}
        found: list[Path] = []
        for path in sorted(candidates, key=lambda p: len(p.parts)):
            if path.exists() and not any(_inside(path, h) for h in found):
                found.append(path)
        return found

    def hides(self, path: Path) -> str:
        """Why code in this sandbox cannot open ``path`` ("" when it can, or when no sandbox
        is in force): a credential store, LOCI_HOME, or ``"temp"``: a private temp folder
        hides it (which ``TempRoot.reveal`` can mend)."""
        if not self.active:
            return ""
        at, real = Path(os.path.abspath(path)), path.resolve()
        if not is_exposed(real, self.expose):
            for place in credential_paths(protected_homes()):
                if _inside(real, place) or _inside(real, place.resolve()):
                    return "it is a credential store, hidden from the code (see --expose)"
        view = self._view()
        for where in {at, real}:
            if not view.visible(where) and any(_inside(where, h) for h in view.hidden):
                return "it is in a folder the sandbox hides (loci's own state)"
        return "" if view.visible(at) else "temp"

    def base_env(self, environ: Mapping[str, str]) -> dict[str, str]:
        """The environment a kernel starts from: ``environ`` less every secret-looking
        variable not passed on purpose (``loci.secret_env``), or with ``private_home`` only
        what code needs (no API keys, tokens or the server's other settings)."""
        if self.private_home:
            return {k: v for k, v in environ.items() if k in _ENV_KEEP or k.startswith("LC_")}
        return withhold(environ, self.pass_env)[0]

    def env(self) -> dict[str, str]:
        """Variables for a confined kernel: caches and config dirs that would live in the
        read-only home go to the private /tmp instead."""
        if not self.active:
            return {}
        return {
            "IPYTHONDIR": "/tmp/.loci-ipython",
            "MPLCONFIGDIR": "/tmp/.loci-matplotlib",
            "XDG_CACHE_HOME": "/tmp/.loci-cache",
        }


class _SettingsLike:  # the fields of Settings that from_settings reads
    sandbox: str
    workdir: Path
    home: Path
    network: bool
    memory_mb: int | None
    max_processes: int
    max_output_mb: float
    expose: tuple[Path, ...]
    pass_env: tuple[str, ...]


_ENV_KEEP = frozenset(
    {"PATH", "HOME", "LANG", "LANGUAGE", "TERM", "TZ", "USER", "LOGNAME", "SHELL"}
)


def kernel_environ(sandbox: Sandbox | None, environ: Mapping[str, str]) -> dict[str, str]:
    """The environment a kernel starts with: what ``base_env`` keeps of ``environ`` plus the
    confined kernel's own variables (``env``); without a sandbox, ``environ`` less its
    secret-looking variables."""
    if sandbox is None:
        return withhold(environ)[0]
    return {**sandbox.base_env(environ), **sandbox.env()}


def launched(argv: Sequence[str]) -> list[str]:
    """``argv`` through the launcher with no limits, only to set SIGINT back to its default:
    a loci started in the background (``nohup loci serve &``) has SIGINT ignored, and an
    ignored signal is inherited through exec, so bash could not be interrupted."""
    return [sys.executable, "-I", "-S", _LAUNCH, "inner", "--", *argv]


def _bind(flag: str, path: Path) -> list[str]:
    return [flag, str(path), str(path)] if path.exists() else []


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True


def temp_dirs() -> list[str]:
    found: list[str] = []
    for tmp in ("/tmp", "/var/tmp", tempfile.gettempdir()):
        if os.path.isdir(tmp) and tmp not in found:
            found.append(tmp)
    return found


def _python_dirs() -> list[Path]:
    import site

    dirs = {sys.prefix, sys.base_prefix, *site.getsitepackages(), str(Path(_LAUNCH).parent)}
    return [Path(p) for p in sorted(dirs)]


def _host_ns() -> str:
    try:
        return os.readlink("/proc/self/ns/pid") + "," + os.readlink("/proc/self/ns/user")
    except OSError:
        return ""


def process_cap(limits: Limits, support: Support) -> int:
    """The process limit really in force in a sandbox (0: none). Root is exempt from
    RLIMIT_NPROC; for root loci caps the pid namespace's pid_max (at least 301, Linux 6.14+)."""
    if not limits.processes:
        return 0
    if os.geteuid() != 0:
        return limits.processes  # unprivileged bwrap always makes a user namespace
    if support.user_namespace and _per_ns_pid_max():
        return max(limits.processes, 300)
    return 0


def _per_ns_pid_max() -> bool:
    try:
        major, minor = (int(x) for x in os.uname().release.split(".")[:2])
    except ValueError:
        return False
    return (major, minor) >= (6, 14)
