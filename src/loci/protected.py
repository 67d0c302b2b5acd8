"""What the code must never see or change: credential stores and startup files, in one place.

The sandbox (``loci.sandbox``) enforces these lists; the risk rules (``loci.risk``) use the
same lists to explain and ask. The README prints them (a test keeps the two in step).

``CREDENTIALS``  paths relative to a home folder that hold keys, tokens or passwords. In
                 every confined mode each one that exists is replaced by an empty mount (an
                 empty folder, or an empty file), wherever it lies, inside the workspace or
                 not, for the home folder of every account on the machine.
``STARTUP``      home-relative files and folders that run code or change how tools behave
                 when a shell, git, an editor or Python starts. They stay read-only even when
                 they lie inside a writable folder.
``PROJECT``      the same inside a writable folder (the workspace): git's config and hooks
                 (so commits still work, but nothing can plant a hook or a ``core.fsmonitor``
                 command that git would later run outside the sandbox, as Codex's workspace
                 sandbox does), editor task and settings folders, direnv's ``.envrc``.
``RUNTIME``      machine-wide folders of live sockets (the desktop's D-Bus session bus, the
                 keyring and GnuPG agents, ssh-agent): hidden, since a socket to
                 ``systemd --user`` or a keyring is a way out of any sandbox.

``expose`` (``--expose PATH``, ``expose = [...]`` in config.toml) lets the user show one of
these locations to the code on purpose, read-only.
"""

from __future__ import annotations

import os
import pwd
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

__all__ = [
    "CREDENTIALS",
    "PROJECT",
    "RUNTIME",
    "STARTUP",
    "homes",
    "in_credential_store",
    "is_exposed",
    "protected_startup",
    "within",
]

CREDENTIALS: tuple[str, ...] = (
    # keys and agents
    ".ssh", ".gnupg", ".password-store", ".local/share/keyrings", ".local/share/kwalletd",
    ".pki", ".vault-token",
    # cloud and cluster credentials
    ".aws", ".azure", ".config/gcloud", ".kube", ".docker", ".oci", ".config/doctl",
    ".config/hcloud", ".terraform.d", ".s3cfg", ".boto", ".config/rclone",
    # package registries and forges
    ".netrc", ".git-credentials", ".config/git/credentials", ".pypirc", ".npmrc", ".yarnrc",
    ".gem/credentials", ".cargo/credentials", ".cargo/credentials.toml",
    ".config/pypoetry/auth.toml", ".m2/settings.xml", ".gradle/gradle.properties",
    ".config/gh", ".config/hub", ".config/glab-cli",
    # databases
    ".pgpass", ".my.cnf",
    # AI tools' keys (Codex, Claude, Hugging Face, Kaggle)
    ".codex", ".claude", ".claude.json", ".config/openai", ".cache/huggingface/token",
    ".huggingface", ".kaggle",
    # browser profiles (cookies, saved passwords)
    ".mozilla", ".thunderbird", ".config/google-chrome", ".config/chromium",
    ".config/BraveSoftware", ".config/microsoft-edge", ".config/vivaldi", ".config/opera",
    "snap/firefox", "snap/chromium", ".var/app",
    # macOS (documented; the sandbox there is not available)
    "Library/Keychains", "Library/Cookies", "Library/Application Support/Google/Chrome",
)  # fmt: skip

STARTUP: tuple[str, ...] = (
    # shells
    ".bashrc", ".bash_profile", ".bash_login", ".bash_logout", ".profile", ".zshrc",
    ".zshenv", ".zprofile", ".zlogin", ".zlogout", ".login", ".cshrc", ".tcshrc",
    ".config/fish", ".inputrc", ".xprofile", ".xinitrc", ".xsessionrc",
    # git, editors and terminals
    ".gitconfig", ".config/git", ".vimrc", ".vim", ".config/nvim", ".emacs", ".emacs.d",
    ".config/Code/User", ".tmux.conf", ".config/tmux", ".screenrc",
    # things that run at login or when Python / IPython starts
    ".config/autostart", ".config/systemd", ".config/environment.d", ".pam_environment",
    ".ipython", ".jupyter", ".pythonrc", ".pythonrc.py", ".local/lib", ".config/pip",
    ".config/direnv", ".direnvrc",
)  # fmt: skip

PROJECT: tuple[str, ...] = (".git/config", ".git/hooks", ".vscode", ".idea", ".envrc")

RUNTIME: tuple[str, ...] = ("/run/user", "/var/run/user")

_MAX_HOMES = 64  # accounts looked at; a machine with more is a server with its own rules


def homes() -> list[Path]:
    """The home folders whose credential stores are hidden: this user's (``$HOME``) first,
    then every other account's that exists (root's and each login user's)."""
    found = [Path.home()]
    try:
        entries = pwd.getpwall()
    except OSError:  # pragma: no cover - no passwd database
        entries = []
    for entry in entries[: _MAX_HOMES * 4]:
        if len(found) >= _MAX_HOMES:
            break
        if entry.pw_uid != 0 and entry.pw_uid < 1000:
            continue  # system accounts (nobody, daemons) hold no user credentials
        home = Path(entry.pw_dir)
        if home != Path("/") and home not in found and _isdir(home):
            found.append(home)
    return found


def _isdir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:
        return False


def credential_paths(home_dirs: Iterable[Path]) -> Iterator[Path]:
    """Every listed credential location under ``home_dirs`` (existing or not)."""
    for home in home_dirs:
        for rel in CREDENTIALS:
            yield home / rel


def in_credential_store(parts: Sequence[str]) -> bool:
    """Whether a path (as its parts, e.g. relative to a workspace) is one of the credential
    stores or lies in one, at any depth: ``proj/.aws/credentials`` does, as ``.aws`` would."""
    for rel in CREDENTIALS:
        store = rel.split("/")
        for i in range(len(parts) - len(store) + 1):
            if list(parts[i : i + len(store)]) == store:
                return True
    return False


def protected_startup(home: Path, writable: Iterable[Path]) -> Iterator[Path]:
    """Startup files under ``home`` and project files in each writable folder: every
    location that must stay read-only (existing or not)."""
    for rel in STARTUP:
        yield home / rel
    for root in writable:
        for rel in PROJECT:
            yield root / rel


def within(path: Path, root: Path) -> bool:
    """Whether ``path`` is ``root`` or lies under it (normalised, symlinks not resolved)."""
    try:
        Path(os.path.normpath(path)).relative_to(os.path.normpath(root))
    except ValueError:
        return False
    return True


def is_exposed(path: Path, exposed: Iterable[Path]) -> bool:
    """Whether the user asked for ``path`` (or a folder above it) to be visible."""
    return any(within(path, item) for item in exposed)
