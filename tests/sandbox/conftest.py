"""The ``harness`` fixture: a Session on real kernels with small limits (sandbox_helpers)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sandbox_helpers import Harness, Make

from loci.approval import ApprovalPolicy, Approver, auto_approve
from loci.config import load_settings
from loci.kernels.pool import KernelPool
from loci.models.scripted import ScriptedModel
from loci.sandbox import Sandbox
from loci.session import Session


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Make]:
    made: list[Session] = []

    def make(
        sandbox: str = "workspace", approver: Approver | None = auto_approve, **extra: Any
    ) -> Harness:
        work = tmp_path / "work"
        work.mkdir(exist_ok=True)
        flags = {"workdir": work, "timeout": 8, "auto_run": True, "sandbox": sandbox}
        flags.update({"memory_mb": 1024, "max_processes": 64, "max_output_mb": 1})
        flags.update(extra)
        settings = load_settings(flags)
        box = Sandbox.from_settings(settings)
        model = ScriptedModel()
        pool = KernelPool(work, sandbox=box)
        session = Session(settings, model=model, kernels=pool, approver=approver)
        # what session.py will pass itself (see the report): the workspace for the risk rules
        session.policy = ApprovalPolicy(
            approver, auto_run=settings.auto_run, workspace=work, home=Path.home()
        )
        made.append(session)
        return Harness(session, model, settings, box)

    yield make
    for session in made:
        session.close()
