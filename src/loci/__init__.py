"""loci: an open, local code interpreter.

    from loci import Session, ScriptedModel, auto_approve

    model = ScriptedModel(["```python\\nprint(2**100)\\n```", "It is 2**100."])
    with Session(model=model, approver=auto_approve) as session:
        for event in session.run("What is 2**100?"):
            print(event.type)

Importing loci does nothing else: no argv parsing, no environment changes, no kernels; each
name is imported when first used.
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False  # typing costs more to import than the rest of this module

if TYPE_CHECKING:
    from .approval import Decision as Decision
    from .approval import auto_approve as auto_approve
    from .approval import deny_all as deny_all
    from .config import Settings as Settings
    from .config import load_settings as load_settings
    from .errors import ConfigError as ConfigError
    from .errors import KernelError as KernelError
    from .errors import LociError as LociError
    from .errors import ModelError as ModelError
    from .errors import StoreError as StoreError
    from .events import Approval as Approval
    from .events import CodeBlock as CodeBlock
    from .events import Event as Event
    from .events import ExecutionDone as ExecutionDone
    from .events import ExecutionStart as ExecutionStart
    from .events import Grounding as Grounding
    from .events import ModelDone as ModelDone
    from .events import Notice as Notice
    from .events import Output as Output
    from .events import TextDelta as TextDelta
    from .events import TurnDone as TurnDone
    from .events import TurnStart as TurnStart
    from .events import Usage as Usage
    from .events import Vote as Vote
    from .models.scripted import ScriptedModel as ScriptedModel
    from .session import Session as Session

# public name -> the module that defines it; imported on first use, so `import loci` costs
# nothing a program does not use (the CLI's `--version` loads no kernel or model code).
_HOMES = {
    "Decision": "approval",
    "auto_approve": "approval",
    "deny_all": "approval",
    "Settings": "config",
    "load_settings": "config",
    "ConfigError": "errors",
    "KernelError": "errors",
    "LociError": "errors",
    "ModelError": "errors",
    "StoreError": "errors",
    "Approval": "events",
    "CodeBlock": "events",
    "Event": "events",
    "ExecutionDone": "events",
    "ExecutionStart": "events",
    "Grounding": "events",
    "ModelDone": "events",
    "Notice": "events",
    "Output": "events",
    "TextDelta": "events",
    "TurnDone": "events",
    "TurnStart": "events",
    "Usage": "events",
    "Vote": "events",
    "ScriptedModel": "models.scripted",
    "Session": "session",
}

__all__ = [
    "Approval",
    "CodeBlock",
    "ConfigError",
    "Decision",
    "Event",
    "ExecutionDone",
    "ExecutionStart",
    "Grounding",
    "KernelError",
    "LociError",
    "ModelDone",
    "ModelError",
    "Notice",
    "Output",
    "ScriptedModel",
    "Session",
    "Settings",
    "StoreError",
    "TextDelta",
    "TurnDone",
    "TurnStart",
    "Usage",
    "Vote",
    "auto_approve",
    "deny_all",
    "load_settings",
]


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'loci' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{home}", __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
