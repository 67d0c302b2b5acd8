"""How a kernel process is confined: off | workspace | readonly, network on/off, limits.

``Sandbox`` (core.py) turns a kernel's command line into a confined one (bubblewrap plus the
``_launch.py`` limits launcher); ``probe`` (probe.py) finds out once whether this machine can
confine at all; ``ensure_venv`` (venv.py) makes the kernel's writable venv in ``LOCI_HOME``.
Importing this package starts nothing.
"""

from __future__ import annotations

from .core import MODES as MODES
from .core import Limits as Limits
from .core import Sandbox as Sandbox
from .core import SandboxMode as SandboxMode
from .core import default_memory_mb as default_memory_mb
from .probe import Support as Support
from .probe import probe as probe
from .venv import ensure_venv as ensure_venv
from .venv import venv_dir as venv_dir

__all__ = [
    "MODES",
    "Limits",
    "Sandbox",
    "SandboxMode",
    "Support",
    "default_memory_mb",
    "ensure_venv",
    "probe",
    "venv_dir",
]
