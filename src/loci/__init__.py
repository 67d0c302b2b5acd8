"""loci: an open, local code interpreter.

    from loci import Session, ScriptedModel, auto_approve

    model = ScriptedModel(["```python\\nprint(2**100)\\n```", "It is 2**100."])
    with Session(model=model, approver=auto_approve) as session:
        for event in session.run("What is 2**100?"):
            print(event.type)

Importing loci does nothing else: no argv parsing, no environment changes, no kernels.
"""

from __future__ import annotations

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
from .models.scripted import ScriptedModel as ScriptedModel
from .session import Session as Session

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
    "auto_approve",
    "deny_all",
    "load_settings",
]
