"""``loci mcp`` driven by the MCP SDK's own client: over stdio and over streamable HTTP.

Each server is a real ``python -m loci mcp`` process with real kernels (sandbox off: the
sandbox has its own tests), shared by the tests of its transport; the async client runs in
a blocking portal, so the tests themselves stay plain functions.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import anyio.from_thread
import httpx
import httpx2
import mcp_types as types
import pytest
from mcp.client.context import ClientRequestContext
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

import loci as loci_package
from loci.store import Store

TIMEOUT_S = 4  # the servers' --timeout
TOKEN = "mcp-test-token-0123456789"


class Person:
    """Answers the elicitations of a client, in the order queued (decline when none is)."""

    def __init__(self) -> None:
        self.answers: list[str] = []
        self.asked: list[str] = []

    async def __call__(
        self, context: ClientRequestContext, params: types.ElicitRequestParams
    ) -> types.ElicitResult:
        self.asked.append(params.message)
        action = self.answers.pop(0) if self.answers else "decline"
        content = {"always": False} if action == "accept" else None
        return types.ElicitResult(action=action, content=content)  # type: ignore[arg-type]


class Client:
    """One MCP client session, called from plain test code through a blocking portal."""

    def __init__(self, portal: anyio.from_thread.BlockingPortal, session: ClientSession) -> None:
        self.portal = portal
        self.session = session

    def call(self, tool: str, args: dict[str, Any] | None = None) -> types.CallToolResult:
        result: types.CallToolResult = self.portal.call(self.session.call_tool, tool, args or {})
        return result

    def run(self, code: str, language: str = "python") -> types.CallToolResult:
        return self.call(f"run_{language}", {"code": code})

    def cancelled(self, code: str, after: float) -> None:
        """Start ``code`` and cancel the call after ``after`` seconds."""

        async def start_and_cancel() -> None:
            with anyio.move_on_after(after) as scope:
                await self.session.call_tool("run_python", {"code": code})
            assert scope.cancelled_caught, "the call ended before it was cancelled"

        self.portal.call(start_and_cancel)


def text_of(result: types.CallToolResult) -> str:
    return "\n".join(c.text for c in result.content if isinstance(c, types.TextContent))


def facts(result: types.CallToolResult) -> dict[str, Any]:
    """The result's structured content (the conversation, execution, status, files)."""
    assert isinstance(result.structured_content, dict)
    return result.structured_content


def server_env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["LOCI_HOME"] = str(home)
    # the server imports the loci these tests import (a checkout's src, or the installed one)
    env["PYTHONPATH"] = str(Path(loci_package.__file__).parents[1])
    return env


def loci(*args: str) -> list[str]:
    return [sys.executable, "-m", "loci", *args]


SERVER_ARGS = ("--sandbox", "off", "--timeout", str(TIMEOUT_S))


@pytest.fixture(scope="module")
def portal() -> Iterator[anyio.from_thread.BlockingPortal]:
    with anyio.from_thread.start_blocking_portal() as p:
        yield p


@contextlib.asynccontextmanager
async def over_stdio(
    home: Path, work: Path, *args: str, person: Person | None = None
) -> AsyncIterator[ClientSession]:
    command, *argv = loci("mcp", *SERVER_ARGS, "--workdir", str(work), *args)
    params = StdioServerParameters(command=command, args=argv, env=server_env(home), cwd=work)
    with (home.parent / f"stdio-{work.name}.log").open("a") as errlog:
        async with (
            stdio_client(params, errlog=errlog) as (read, write),
            ClientSession(read, write, elicitation_callback=person) as session,
        ):
            await session.initialize()
            yield session


# -- over stdio: one server for these tests, and a client that can be asked ---------------


class Stdio:
    def __init__(self, client: Client, person: Person, home: Path, work: Path) -> None:
        self.client, self.person, self.home, self.work = client, person, home, work


@pytest.fixture(scope="module")
def stdio(
    portal: anyio.from_thread.BlockingPortal, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stdio]:
    root = tmp_path_factory.mktemp("stdio")
    home, work = root / "home", root / "work"
    work.mkdir()
    person = Person()
    with portal.wrap_async_context_manager(over_stdio(home, work, person=person)) as session:
        yield Stdio(Client(portal, session), person, home, work)


def test_the_tools_are_listed_with_their_arguments(stdio: Stdio) -> None:
    tools = {t.name: t for t in stdio.client.portal.call(stdio.client.session.list_tools).tools}
    assert set(tools) == {"run_python", "run_shell", "get_output", "list_files", "read_file"}
    assert tools["run_python"].input_schema["required"] == ["code"]
    assert "persistent" in (tools["run_python"].description or "")


def test_state_is_kept_between_calls_and_stored_as_a_conversation(stdio: Stdio) -> None:
    first = stdio.client.run("x = 41\nx + 1")
    assert text_of(first) == "42" and not first.is_error
    second = stdio.client.run("print(x)")
    assert text_of(second) == "41"
    conv_id = facts(first)["conversation_id"]
    assert facts(second)["conversation_id"] == conv_id
    shell = stdio.client.run("cd sub 2>/dev/null || mkdir sub && cd sub; pwd", "shell")
    assert text_of(shell).strip().endswith("/sub")
    assert text_of(stdio.client.run("pwd", "shell")).strip().endswith("/sub")
    record = Store(stdio.home / "history.db").get_conversation(conv_id)
    assert record.summary.model.startswith("mcp:")
    calls = [m for m in record.messages if m.role == "assistant"]
    assert calls[0].tool_calls[0].code == "x = 41\nx + 1"
    assert [m.role for m in record.messages].count("tool") == len(calls)


def test_a_plot_comes_back_as_an_image_and_files_are_named(stdio: Stdio) -> None:
    code = (
        "import matplotlib.pyplot as plt\nplt.plot([1, 4, 9])\nplt.show()\n"
        "open('squares.csv', 'w').write('n,sq\\n3,9\\n')"
    )
    result = stdio.client.run(code)
    images = [c for c in result.content if isinstance(c, types.ImageContent)]
    assert len(images) == 1 and images[0].mime_type == "image/png"
    assert base64.b64decode(images[0].data).startswith(b"\x89PNG")
    assert "squares.csv" in facts(result)["files"]
    assert "squares.csv" in text_of(result)
    listed = stdio.client.call("list_files")
    assert "squares.csv" in text_of(listed)
    assert text_of(stdio.client.call("read_file", {"path": "squares.csv"})) == "n,sq\n3,9\n"


def test_a_running_block_reports_its_output_as_progress(stdio: Stdio) -> None:
    seen: list[tuple[float, str | None]] = []

    async def progress(done: float, total: float | None, message: str | None) -> None:
        seen.append((done, message))

    code = "import time\nfor i in range(4):\n    print('step', i, flush=True)\n    time.sleep(0.5)"
    portal, session = stdio.client.portal, stdio.client.session
    result = portal.call(session.call_tool, "run_python", {"code": code}, None, progress)
    assert "step 3" in text_of(result)
    assert seen and all(m and m.startswith("step") for _, m in seen)


def test_a_long_block_times_out_and_the_session_goes_on(stdio: Stdio) -> None:
    result = stdio.client.run("import time\ntime.sleep(60)")
    assert result.is_error
    assert "timed out" in text_of(result)
    assert facts(result)["status"] == "timeout"
    assert text_of(stdio.client.run("print('still here')")) == "still here"


def test_a_cancelled_call_interrupts_its_code(stdio: Stdio) -> None:
    stdio.client.run("kept = 'yes'")
    stdio.client.cancelled("import time\nprint('started', flush=True)\ntime.sleep(60)", 1.5)
    after = stdio.client.run("print(kept)")  # the kernel is free again, its state kept
    assert text_of(after) == "yes"
    record = Store(stdio.home / "history.db").get_conversation(facts(after)["conversation_id"])
    stopped = record.executions[-2]
    assert "time.sleep(60)" in stopped.code and stopped.status == "interrupted"


def test_risky_code_asks_the_person_and_runs_only_when_accepted(stdio: Stdio) -> None:
    code = "cat ~/.ssh/loci-test-no-such-key"
    stdio.person.answers = ["decline"]
    refused = stdio.client.run(code, "shell")
    assert refused.is_error and "the user said no" in text_of(refused)
    assert "touches credentials" in stdio.person.asked[-1] and code in stdio.person.asked[-1]
    stdio.person.answers = ["accept"]
    ran = stdio.client.run(code, "shell")
    assert facts(ran)["status"] == "error"  # it ran: cat found no such file
    assert "No such file" in text_of(ran)
    assert len(stdio.person.asked) == 2
    assert text_of(stdio.client.run("print(1 + 1)")) == "2"  # plain code is not asked about
    assert len(stdio.person.asked) == 2


@pytest.mark.parametrize(
    ("tool", "args", "said"),
    [
        ("run_python", {}, "code"),
        ("run_python", {"code": 5}, "code"),
        ("run_python", {"code": ""}, "code"),
        ("run_python", {"code": "1", "extra": True}, ""),
        ("no_such_tool", {}, "no_such_tool"),
        ("read_file", {"path": "../outside.txt"}, "'..'"),
        ("read_file", {"path": "/etc/passwd"}, "absolute"),
        ("read_file", {"path": "missing.txt"}, "no such file"),
        ("get_output", {"execution_id": 999999}, "no execution"),
        ("get_output", {"execution_id": "one"}, "execution_id"),
    ],
)
def test_bad_arguments_get_an_error_not_a_crash(
    stdio: Stdio, tool: str, args: dict[str, Any], said: str
) -> None:
    result = stdio.client.call(tool, args)
    if tool == "run_python" and "extra" in args:  # an unknown argument is ignored
        assert not result.is_error
        return
    assert result.is_error and said in text_of(result)
    assert text_of(stdio.client.run("print('alive')")) == "alive"


def test_the_full_output_is_fetched_by_its_execution_id(stdio: Stdio) -> None:
    result = stdio.client.run("for i in range(3000): print('line', i)")
    shown = text_of(result)
    exec_id = facts(result)["execution_id"]
    assert f"execution #{exec_id}" in shown and "line 1500" not in shown
    first = text_of(stdio.client.call("get_output", {"execution_id": exec_id}))
    assert "line 1500" in first and "line 2999" not in first
    offset = int(re.search(r"offset=(\d+)\)", first).group(1))  # type: ignore[union-attr]
    rest = text_of(stdio.client.call("get_output", {"execution_id": exec_id, "offset": offset}))
    assert "line 2999" in rest


def test_credentials_and_loci_state_are_not_served(stdio: Stdio) -> None:
    (stdio.work / ".aws").mkdir()
    (stdio.work / ".aws" / "credentials").write_text("[default]\nkey = secret\n")
    (stdio.work / ".netrc").write_text("machine x password secret\n")
    (stdio.work / "link.txt").symlink_to("/etc/hostname")
    for path in (".aws/credentials", ".netrc", "link.txt"):
        result = stdio.client.call("read_file", {"path": path})
        assert result.is_error and "secret" not in text_of(result), path
    assert ".netrc" not in text_of(stdio.client.call("list_files"))


# -- --ask and --resume: servers of their own ---------------------------------------------


def test_ask_mode_asks_for_every_block_and_resume_continues(
    portal: anyio.from_thread.BlockingPortal,
    tmp_path: Path,
    left_behind: Callable[[Path], list[int]],
) -> None:
    home, work = tmp_path / "home", tmp_path / "work"
    work.mkdir()
    with portal.wrap_async_context_manager(over_stdio(home, work, "--ask")) as session:
        refused = Client(portal, session).run("print(1)")  # this client cannot be asked
    assert refused.is_error and "cannot ask the user" in text_of(refused)
    conv_id = facts(refused)["conversation_id"]
    person = Person()
    server = over_stdio(home, work, "--ask", "--resume", str(conv_id), person=person)
    with portal.wrap_async_context_manager(server) as session:
        client = Client(portal, session)
        person.answers = ["accept", "decline"]
        ran = client.run("print('asked first')")
        assert text_of(ran) == "asked first" and len(person.asked) == 1
        assert facts(ran)["conversation_id"] == conv_id
        assert "the user said no" in text_of(client.run("print('no')"))
    assert left_behind(work) == []  # closing stdin ended the server and its kernels
    record = Store(home / "history.db").get_conversation(conv_id)
    assert [(e.approved_by, e.status) for e in record.executions] == [
        ("policy", "denied"), ("user", "ok"), ("user", "denied")
    ]  # fmt: skip


# -- over HTTP: one server, several sessions -----------------------------------------------


class Http:
    def __init__(self, url: str, home: Path, work: Path) -> None:
        self.url, self.home, self.work = url, home, work


@pytest.fixture(scope="module")
def http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Http]:
    root = tmp_path_factory.mktemp("http")
    home, work = root / "home", root / "work"
    work.mkdir()
    args = ("mcp", "--http", "--port", "0", "--token", TOKEN, "--workdir", str(work))
    proc = subprocess.Popen(
        loci(*args, *SERVER_ARGS), env=server_env(home), stderr=subprocess.PIPE, text=True
    )
    assert proc.stderr is not None
    line = proc.stderr.readline()
    found = re.search(r"serving on (http://\S+) ", line)
    assert found, line + proc.stderr.read()
    rest = threading.Thread(target=proc.stderr.read, daemon=True)  # never let the pipe fill
    rest.start()
    try:
        yield Http(found.group(1), home, work)
    finally:
        proc.terminate()
        proc.wait(30)
        rest.join(10)
        proc.stderr.close()


@contextlib.asynccontextmanager
async def over_http(url: str, person: Person | None = None) -> AsyncIterator[ClientSession]:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=120)) as http_client,
        streamable_http_client(url, http_client=http_client) as (read, write),
        ClientSession(read, write, elicitation_callback=person) as session,
    ):
        await session.initialize()
        yield session


def test_http_needs_the_token_and_refuses_foreign_pages(http: Http) -> None:
    hello = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "curl", "version": "1"},
        },
    }
    accept = {"Accept": "application/json, text/event-stream"}
    auth = {"Authorization": f"Bearer {TOKEN}", **accept}
    with httpx.Client(timeout=30) as c:
        assert c.post(http.url, json=hello, headers=accept).status_code == 401
        wrong = {**accept, "Authorization": "Bearer not-the-token"}
        assert c.post(http.url, json=hello, headers=wrong).status_code == 401
        foreign = {**auth, "Origin": "https://evil.example"}
        assert c.post(http.url, json=hello, headers=foreign).status_code == 403
        assert c.get(http.url, headers=foreign).status_code == 403
        rebound = {**auth, "Host": "evil.example"}
        assert c.post(http.url, json=hello, headers=rebound).status_code == 403
        ok = c.post(http.url, json=hello, headers=auth)
        assert ok.status_code == 200, ok.text
        assert ok.headers.get("mcp-session-id")
        by_query = c.post(http.url, params={"token": TOKEN}, json=hello, headers=accept)
        assert by_query.status_code == 200


def test_http_sessions_are_isolated_conversations(
    http: Http, portal: anyio.from_thread.BlockingPortal, left_behind: Callable[[Path], list[int]]
) -> None:
    person = Person()
    with (
        portal.wrap_async_context_manager(over_http(http.url)) as a,
        portal.wrap_async_context_manager(over_http(http.url, person)) as b,
    ):
        alice, bob = Client(portal, a), Client(portal, b)
        assert not alice.run("secret = 'only in a'").is_error
        seen = bob.run("print(secret)")
        assert seen.is_error and "NameError" in text_of(seen)
        assert text_of(alice.run("print(secret)")) == "only in a"
        risky = "cat ~/.ssh/loci-test-no-such-key"
        refused = alice.run(risky, "shell")  # a cannot be asked: refused, with the reason
        assert refused.is_error and "nobody is there to confirm it" in text_of(refused)
        person.answers = ["accept"]
        asked = bob.run(risky, "shell")
        assert "No such file" in text_of(asked) and len(person.asked) == 1
        ids = {facts(r)["conversation_id"] for r in (refused, asked)}
    assert len(ids) == 2
    # each client ended its session (DELETE): their kernels are gone, the server still runs
    assert left_behind(http.work) == []
    history = subprocess.run(
        loci("history", "--json"), env=server_env(http.home), capture_output=True, text=True
    )
    listed = {c["id"]: c for c in json.loads(history.stdout)}
    assert ids <= set(listed)
    assert all(listed[i]["model"].startswith("mcp:") for i in ids)
