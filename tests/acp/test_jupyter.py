"""loci in JupyterLab's chat, end to end: a real JupyterLab with Jupyter AI and its ACP
client, the loci persona (found through loci's ``jupyter_ai.personas`` entry point), a
scripted model and a real kernel, driven in Debian's chromium by Playwright.

Skipped unless JupyterLab, Jupyter AI's ACP client, the persona's entry point and chromium
are all there (``pip install 'loci[jupyter]'``; the ``test`` extra does not bring them: the
ACP client needs an older SDK than loci's ``acp`` extra pins).
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
from acp_editor import SRC

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
START_S = 120.0  # JupyterLab with its extensions takes a while to come up on two cores

pytest.importorskip("jupyterlab", reason="needs JupyterLab (pip install 'loci[jupyter]')")
pytest.importorskip("jupyter_ai_acp_client", reason="needs Jupyter AI's ACP client")
pytest.importorskip("playwright", reason="needs Playwright")
pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium"),
    pytest.mark.skipif(
        not any(e.name == "loci" for e in entry_points(group="jupyter_ai.personas")),
        reason="loci is installed without its jupyter_ai.personas entry point here",
    ),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def jupyterlab(
    tmp_path: Path, loci_home: Path, left_behind: Callable[[Path], list[int]]
) -> Iterator[tuple[str, Path]]:
    """A JupyterLab on 127.0.0.1 whose loci persona replays a script: (its URL, its root).
    Once it has stopped, no kernel of loci's may be left in its folder."""
    root = tmp_path / "lab"
    root.mkdir()
    script = tmp_path / "script.json"
    script.write_text(
        json.dumps(
            [
                {"text": "Let me compute.", "tool_calls": [{"code": "print(6 * 7)"}]},
                "It is 42.",
                {"tool_calls": [{"code": "print('should not run')"}]},
                "I did not run it.",
            ]
        )
    )
    token, port = secrets.token_hex(16), _free_port()
    env = {
        **os.environ,
        "LOCI_HOME": str(loci_home),
        "LOCI_MODEL": f"scripted:{script}",
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
        "JUPYTER_AI_ACP_CLIENT_E2E_TESTING_ONLY": "1",  # only loci: no vendored agents
        "JUPYTER_CONFIG_DIR": str(tmp_path / "jupyter-config"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "jupyter-runtime"),
    }
    command = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
        f"--port={port}", f"--ServerApp.token={token}", f"--ServerApp.root_dir={root}",
    ]  # fmt: skip
    log = (tmp_path / "jupyterlab.log").open("wb")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, token, server)
        _put(url, token, "test.chat", "")
        yield f"{url}/lab/tree/test.chat?token={token}", root
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
        sys.stderr.write((tmp_path / "jupyterlab.log").read_text(errors="replace")[-20_000:])
    assert left_behind(root) == []


def _wait_until_up(url: str, token: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_S
    while time.monotonic() < deadline:
        assert server.poll() is None, "JupyterLab exited"
        try:
            urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=5).close()
            return
        except OSError:
            time.sleep(0.5)
    raise AssertionError("JupyterLab did not come up")


def _put(url: str, token: str, path: str, text: str) -> None:
    body = json.dumps({"type": "file", "format": "text", "content": text}).encode()
    request = urllib.request.Request(
        f"{url}/api/contents/{path}",
        data=body,
        method="PUT",
        headers={"Authorization": f"token {token}", "Content-Type": "application/json"},
    )
    urllib.request.urlopen(request, timeout=30).close()


@pytest.fixture
def page() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page(viewport={"width": 1300, "height": 900})
        page.set_default_timeout(90_000)
        try:
            yield page
        finally:
            browser.close()


def _send(page: Any, text: str) -> None:
    box = page.get_by_placeholder("Type a chat message, @ to mention...")
    box.fill(text)
    box.press("Enter")


def test_loci_answers_in_jupyterlab_chat_and_asks_before_running(
    jupyterlab: tuple[str, Path], page: Any
) -> None:
    url, _ = jupyterlab
    page.goto(url)
    _send(page, "what is 6*7?")
    page.get_by_role("button", name="Run", exact=True).click()  # loci's permission request
    page.get_by_text("It is 42.").wait_for()
    page.get_by_text("python: print(6 * 7)").click()  # the tool call opens on its output
    page.locator("details", has_text="42").first.wait_for()

    _send(page, "print something")
    page.get_by_role("button", name="Don't run", exact=True).click()
    page.get_by_text("I did not run it.").wait_for()
    page.get_by_text("python: print('should not run')").click()
    page.get_by_text("not run: the user said no").wait_for()
