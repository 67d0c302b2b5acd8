"""The kernel's own virtual environment, inside ``LOCI_HOME``, for sandboxed kernels.

A sandboxed kernel cannot write to loci's own environment, so ``pip install`` (the
ModuleNotFoundError flow, ``%pip``, ``pip`` in the shell) would fail there. Instead the kernel
runs ``LOCI_HOME/venvs/pyX.Y/bin/python``: a venv made without pip (milliseconds, no network)
whose ``loci-base.pth`` adds loci's own site-packages with ``site.addsitedir`` (their ``.pth``
files included). So ipykernel, pip and
everything loci's environment has are importable, while new packages install into the venv
(writable inside the sandbox) and take precedence. ``bin/pip`` is a two-line shim for
``python -m pip``.
"""

from __future__ import annotations

import site
import sys
import sysconfig
import venv
from pathlib import Path

__all__ = ["ensure_venv", "venv_dir"]

_PIP_SHIM = '#!/bin/sh\nexec "$(dirname "$0")/python" -m pip "$@"\n'


def venv_dir(home: Path) -> Path:
    return home / "venvs" / f"py{sys.version_info.major}.{sys.version_info.minor}"


def _site_packages(root: Path) -> Path:
    purelib = sysconfig.get_path("purelib", vars={"base": str(root), "platbase": str(root)})
    return Path(purelib)


def ensure_venv(home: Path) -> Path:
    """Create (once) and return the python of the kernel venv in ``home``."""
    root = venv_dir(home)
    python = root / "bin" / "python"
    pth = _site_packages(root) / "loci-base.pth"
    dirs = list(site.getsitepackages())
    if site.ENABLE_USER_SITE:
        dirs.append(site.getusersitepackages())
    base = [d for d in dirs if Path(d).is_dir()]
    wanted = "".join(f"import site; site.addsitedir({d!r})\n" for d in base)
    if python.exists() and pth.exists() and pth.read_text(encoding="utf-8") == wanted:
        return python
    venv.EnvBuilder(symlinks=True, with_pip=False, clear=False).create(root)
    pth.parent.mkdir(parents=True, exist_ok=True)
    pth.write_text(wanted, encoding="utf-8")
    for name in ("pip", "pip3"):
        shim = root / "bin" / name
        shim.write_text(_PIP_SHIM, encoding="utf-8")
        shim.chmod(0o755)
    return python
