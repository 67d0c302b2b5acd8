"""The fixtures of the ``loci acp`` tests: ``editor(*args, env=...)`` starts ``loci acp ARGS``
under the SDK's client side and initializes it; ``script(*replies)`` writes a scripted model."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

pytest.importorskip("acp", reason="loci acp needs the acp extra")

from acp import PROTOCOL_VERSION, spawn_agent_process
from acp.schema import ClientCapabilities, Implementation
from acp_editor import CLOSE_S, SRC, STEP_S, Editor, Start


@pytest.fixture
def acp_env(loci_home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["LOCI_HOME"] = str(loci_home)
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    return folder


@pytest.fixture
def editor(acp_env: dict[str, str], tmp_path: Path) -> Iterator[Start]:
    """``editor(*args, env=...)``: ``loci acp ARGS`` started and initialized. Its stderr is
    kept in a file, shown when a test fails."""
    logs: list[Path] = []

    @contextlib.asynccontextmanager
    async def start(*args: str, env: dict[str, str] | None = None) -> AsyncIterator[Editor]:
        client = Editor()
        command = [sys.executable, "-m", "loci.cli.main", "acp", *args]
        log = tmp_path / f"agent-{len(logs)}.log"
        logs.append(log)
        with log.open("wb") as stderr:
            async with spawn_agent_process(
                client,
                *command,
                env=env or acp_env,
                transport_kwargs={"stderr": stderr, "shutdown_timeout": CLOSE_S},
            ) as (conn, proc):
                client.conn = conn
                client.process = proc
                client.init = await asyncio.wait_for(
                    conn.initialize(
                        protocol_version=PROTOCOL_VERSION,
                        client_capabilities=ClientCapabilities(),
                        client_info=Implementation(name="test-editor", version="0"),
                    ),
                    STEP_S,
                )
                yield client

    yield start
    for log in logs:
        sys.stderr.write(f"--- {log.name}\n{log.read_text(errors='replace')}")
