"""Helpers for the web tests: the app on a real uvicorn server on 127.0.0.1, a scripted model."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette

from loci.config import Settings, load_settings
from loci.kernels.fake import FakeKernel
from loci.kernels.pool import KernelPool
from loci.models.scripted import ScriptedModel
from loci.web import create_app
from loci.web.live import PoolFactory

TOKEN = "test-token-0123456789"


@dataclass
class Server:
    url: str
    token: str
    model: ScriptedModel
    settings: Settings
    app: Starlette

    def client(self, **kw: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.token}", **kw.pop("headers", {})}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60, **kw)


def fake_pool(settings: Settings, workspace: Path) -> KernelPool:
    return KernelPool(workspace, factory=lambda lang: FakeKernel(lang, workdir=workspace))


@contextmanager
def serve(app: Starlette) -> Iterator[str]:
    """Run ``app`` on a free loopback port in a thread; yields its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=2)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(60)
        sock.close()


def make_settings(tmp_path: Path, **changes: Any) -> Settings:
    # the sandbox has its own tests; here it would only add its start-up time
    return load_settings({"timeout": 30, "workdir": tmp_path / "work", "sandbox": "off", **changes})


@pytest.fixture
def web_settings(tmp_path: Path, loci_home: Path) -> Settings:
    return make_settings(tmp_path)


ServerFactory = Callable[..., Server]


@pytest.fixture
def start_server(web_settings: Settings) -> Iterator[ServerFactory]:
    """``start_server(real_kernels=True)``: a running server; stopped after the test."""
    stack: list[Any] = []

    def start(
        *,
        real_kernels: bool = True,
        settings: Settings | None = None,
        pool_factory: PoolFactory | None = None,
        **app_options: Any,
    ) -> Server:
        model = ScriptedModel()
        app = create_app(
            settings or web_settings,
            token="" if app_options.get("users") else TOKEN,
            model_factory=lambda s: model,
            pool_factory=pool_factory or (None if real_kernels else fake_pool),
            workspace_root=app_options.pop(
                "workspace_root", (settings or web_settings).home.parent / "workspaces"
            ),
            **app_options,
        )
        ctx = serve(app)
        url = ctx.__enter__()
        stack.append(ctx)
        return Server(url, TOKEN, model, settings or web_settings, app)

    yield start
    for ctx in reversed(stack):
        ctx.__exit__(None, None, None)


def read_events(client: httpx.Client, conv_id: int, after: int = 0) -> list[dict[str, Any]]:
    """Every event after ``after`` until the conversation is idle (SSE, ``until=idle``)."""
    events = []
    url = f"/api/conversations/{conv_id}/events"
    with client.stream("GET", url, params={"after": after, "until": "idle"}) as resp:
        assert resp.status_code == 200, resp.read()
        for line in resp.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
    return events


def wait_for(client: httpx.Client, conv_id: int, kind: str, after: int = 0) -> dict[str, Any]:
    """Read the live stream until an event of ``kind`` arrives; return it."""
    url = f"/api/conversations/{conv_id}/events"
    with client.stream("GET", url, params={"after": after}) as resp:
        for line in resp.iter_lines():
            if line.startswith("data: "):
                event: dict[str, Any] = json.loads(line[6:])
                if event["type"] == kind:
                    return event
    raise AssertionError(f"the stream ended without a {kind} event")


def drive(client: httpx.Client, conv_id: int, after: int, action: str) -> list[dict[str, Any]]:
    """Follow one turn, answering every code block with ``action``; its events to turn_done."""
    events: list[dict[str, Any]] = []
    url = f"/api/conversations/{conv_id}/events"
    with client.stream("GET", url, params={"after": after}) as resp:
        for line in resp.iter_lines():
            if not line.startswith("data: "):
                continue
            event: dict[str, Any] = json.loads(line[6:])
            events.append(event)
            if event["type"] == "code":
                client.post(
                    f"/api/conversations/{conv_id}/approvals",
                    json={"block_id": event["id"], "sha256": event["sha256"], "action": action},
                )
            if event["type"] == "turn_done":
                return events
    raise AssertionError("the stream ended before turn_done")
