"""Secrets in the environment: which variables code does not get, and redacting known values.

A kernel inherits loci's environment, and loci's environment holds the user's API keys. By
default every variable whose name looks secret is withheld from kernels, in every mode (the
sandbox on or off, the terminal, ``loci serve``), as Codex CLI's ``shell_environment_policy``
can do with ``*KEY*``, ``*SECRET*`` and ``*TOKEN*``:

- names containing KEY, SECRET, TOKEN, PASSWORD, PASSWD, CREDENTIAL, COOKIE or PRIVATE, or
  with a word AUTH, PAT or PASS (``GITHUB_PAT``, ``NPM_AUTH``; not ``GIT_AUTHOR_NAME``);
- agents' sockets: ``SSH_AUTH_SOCK``, ``GPG_AGENT_INFO``;
- any variable whose value is a URL with a password in it (``postgres://u:pw@host/db``).

``--pass-env NAME`` (``pass_env = [...]`` in config.toml) passes one through on purpose.

``Redactor`` replaces every secret value loci knows of — what it withheld, and its own model
keys and gateway token — with ``[redacted NAME]`` in outputs, before they are stored, shown
or given to the model: a second guard for the ways code could still find a value (reading
loci's own ``/proc/PID/environ`` with the sandbox off, say).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = ["Redactor", "is_secret", "withhold"]

_MARKS = ("KEY", "SECRET", "TOKEN", "PASSWORD", "PASSWD", "CREDENTIAL", "COOKIE", "PRIVATE")
_WORDS = frozenset({"AUTH", "PAT", "PASS", "PW", "PWD_SECRET"})
_NAMES = frozenset({"SSH_AUTH_SOCK", "GPG_AGENT_INFO", "SSH_AGENT_PID"})
_HARMLESS = frozenset({"PWD", "OLDPWD", "KEYTIMEOUT"})
_URL_PASSWORD = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*:[^/\s@]+@")
MIN_SECRET = 8  # shorter values are not redacted: "1" or "yes" would blank out ordinary text


def is_secret(name: str, value: str = "") -> bool:
    """Whether a variable looks like it holds a secret, by its name or (URLs) its value."""
    upper = name.upper()
    if upper in _HARMLESS:
        return False
    if upper in _NAMES or any(mark in upper for mark in _MARKS):
        return True
    if _WORDS.intersection(re.split(r"[^A-Z0-9]+", upper)):
        return True
    return bool(_URL_PASSWORD.match(value))


def withhold(
    environ: Mapping[str, str], passed: Iterable[str] = ()
) -> tuple[dict[str, str], dict[str, str]]:
    """``environ`` split into what a kernel gets and what is withheld (name -> value)."""
    allowed = {p.upper() for p in passed}
    kept: dict[str, str] = {}
    withheld: dict[str, str] = {}
    for name, value in environ.items():
        if is_secret(name, value) and name.upper() not in allowed:
            withheld[name] = value
        else:
            kept[name] = value
    return kept, withheld


@dataclass(frozen=True)
class Redactor:
    """Replaces known secret values in text. ``secrets`` maps a label to a value."""

    secrets: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_values(cls, values: Mapping[str, str | None]) -> Redactor:
        found = {v: k for k, v in values.items() if v and len(v) >= MIN_SECRET}
        # longest first, so a value that contains another is replaced whole
        ordered = sorted(found.items(), key=lambda item: -len(item[0]))
        return cls(tuple((label, value) for value, label in ordered))

    def __bool__(self) -> bool:
        return bool(self.secrets)

    def __call__(self, text: str) -> str:
        for label, value in self.secrets:
            if value in text:
                text = text.replace(value, f"[redacted {label}]")
        return text
