"""Helpers for the sandbox tests: a Session on real kernels with small limits."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from loci.config import Settings
from loci.events import Event
from loci.models.scripted import ScriptedModel
from loci.sandbox import Sandbox, probe
from loci.session import Session

CONFINES = probe().available
needs_sandbox = pytest.mark.skipif(not CONFINES, reason=f"no sandbox here: {probe().reason}")


@dataclass
class Harness:
    session: Session
    model: ScriptedModel
    settings: Settings
    sandbox: Sandbox
    events: list[Event] = field(default_factory=list)

    def turn(self, text: str, *replies: str) -> list[Event]:
        for reply in replies:
            self.model.enqueue(reply)
        self.model.enqueue("Done.")
        self.events = list(self.session.run(text))
        return self.events


Make = Callable[..., Harness]
