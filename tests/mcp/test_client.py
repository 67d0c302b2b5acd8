"""MCP servers' tools in a session, against a real MCP server (``toy_server.py``, made with
the SDK): called by a scripted model as tool calls, and from Python in a real kernel."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("mcp", reason="the MCP tests need the SDK: pip install 'loci[mcp]'")

from mcp_types import (
    CallToolResult,
    EmbeddedResource,
    ImageContent,
    TextContent,
    TextResourceContents,
)

from loci.approval import Decision, auto_approve
from loci.config import Settings
from loci.events import (
    Approval,
    CodeBlock,
    Event,
    ExecutionDone,
    Notice,
    Output,
    TurnDone,
)
from loci.kernels.pool import KernelPool
from loci.mcp.answers import to_result
from loci.mcp.runner import outputs
from loci.mcp_servers import McpServer
from loci.messages import ToolCall
from loci.models.scripted import ScriptedModel
from loci.sandbox import probe
from loci.session import Session

TOY = str(Path(__file__).with_name("toy_server.py"))


def toy(timeout: float = 20.0, name: str = "toy") -> McpServer:
    return McpServer(name, sys.executable, (TOY,), timeout=timeout)


def run(session: Session, text: str = "go") -> list[Event]:
    events = list(session.run(text))
    assert isinstance(events[-1], TurnDone)
    return events


def of_type(events: list[Event], kind: type) -> list:  # type: ignore[type-arg]
    return [e for e in events if isinstance(e, kind)]


def notices(events: list[Event]) -> list[str]:
    return [e.message for e in of_type(events, Notice)]


def call(code: str, call_id: str = "c1") -> list[ToolCall]:
    return [ToolCall(call_id, "mcp", code)]


@pytest.fixture
def tool_model() -> ScriptedModel:
    return ScriptedModel(tools=True)


@pytest.fixture
def with_toy(settings: Settings) -> Settings:
    return settings.replace(mcp_servers=(toy(),))


def test_a_tool_call_is_shown_approved_run_and_stored(
    with_toy: Settings, fake_pool: KernelPool, tool_model: ScriptedModel
) -> None:
    tool_model.enqueue("Adding.", call("toy.add(a=2, b=3)"))
    tool_model.enqueue("2 + 3 is 5.")
    with Session(with_toy, model=tool_model, kernels=fake_pool, approver=auto_approve) as s:
        events = run(s, "add 2 and 3")
        record = s.store.get_conversation(s.conversation_id)
        history = s.store.messages(s.conversation_id)
    assert "MCP server 'toy' is ready; its tools: add, sleep, crash, fail" in notices(events)
    # offered to the model as tools of their own, and listed in its system prompt
    assert [t.name for t in tool_model.offered[0]] == [
        "toy__add", "toy__sleep", "toy__crash", "toy__fail"
    ]  # fmt: skip
    assert tool_model.offered[0][0].parameters["required"] == ["a", "b"]
    system = tool_model.calls[0][0].content
    assert "- toy.add(a, b): Add two numbers." in system and "second line" not in system
    assert "named server__tool (the first below is toy__add)" in system
    assert "Inside `execute` they are Python functions too" in system
    block = of_type(events, CodeBlock)[0]
    assert (block.language, block.code) == ("mcp", "toy.add(a=2, b=3)")
    assert of_type(events, Approval)[0].approved
    assert [o.data for o in of_type(events, Output)] == ["5.0\n"]
    assert of_type(events, ExecutionDone)[0].status == "ok"
    assert tool_model.calls[1][-1].role == "tool" and tool_model.calls[1][-1].content == "5.0"
    (ex,) = record.executions
    assert (ex.language, ex.code, ex.status) == ("mcp", "toy.add(a=2, b=3)", "ok")
    assert ex.sandbox == "mcp:toy"  # the server runs outside loci's sandbox
    assert ex.approved_by == "auto" and [o.data for o in ex.outputs] == ["5.0\n"]
    assert history[1].tool_calls == tuple(call("toy.add(a=2, b=3)"))


def test_a_refused_call_is_not_made_and_an_edited_one_runs_as_edited(
    with_toy: Settings, fake_pool: KernelPool, tool_model: ScriptedModel
) -> None:
    def person(block: CodeBlock) -> Decision:
        if "crash" in block.code:
            return Decision(False, "user", reason="not now")
        return Decision(True, "user", code="toy.add(a=10, b=3)")

    tool_model.enqueue("", call("toy.crash()"))
    tool_model.enqueue("", call("toy.add(a=1, b=1)", "c2"))
    with Session(with_toy, model=tool_model, kernels=fake_pool, approver=person) as s:
        events = run(s)
        refusal, edited = s.store.get_conversation(s.conversation_id).executions
    assert (refusal.language, refusal.code, refusal.status) == ("mcp", "toy.crash()", "denied")
    assert tool_model.calls[1][-1].content == "[not run: not now]"
    assert not [n for n in notices(events) if "stopped" in n]  # the crash was never called
    assert (edited.code, edited.approved_by) == ("toy.add(a=10, b=3)", "user")
    assert tool_model.calls[2][-1].content == "13.0"


def test_the_server_crashing_mid_call_is_a_clear_error_and_the_conversation_goes_on(
    with_toy: Settings, fake_pool: KernelPool, tool_model: ScriptedModel
) -> None:
    tool_model.enqueue("", call("toy.crash()"))
    tool_model.enqueue("", call("toy.add(a=1, b=2)", "c2"))
    tool_model.enqueue("The server is gone.")
    with Session(with_toy, model=tool_model, kernels=fake_pool, approver=auto_approve) as s:
        events = run(s)
        later = run(s, "and now?")
    crashed, after = of_type(events, ExecutionDone)
    assert crashed.status == "crashed"
    assert crashed.message == "the MCP server 'toy' stopped during the call"
    stopped = [n for n in notices(events) if n.startswith("MCP server 'toy' stopped")]
    assert stopped and "toy server: crashing on purpose" in stopped[0]  # its stderr's last line
    assert after.status == "error" and "is not running" in after.error_value
    assert tool_model.offered[1] == () and "toy.add" not in tool_model.calls[1][0].content
    crash_result = tool_model.calls[1][-1].content
    assert "[crashed: the MCP server 'toy' stopped during the call]" in crash_result
    assert events[-1].status == "done" and later[-1].status == "done"


def test_each_call_has_its_servers_timeout(
    settings: Settings, fake_pool: KernelPool, tool_model: ScriptedModel
) -> None:
    settings = settings.replace(mcp_servers=(toy(timeout=1),))
    tool_model.enqueue("", call("toy.sleep(seconds=30)"))
    with Session(settings, model=tool_model, kernels=fake_pool, approver=auto_approve) as s:
        s.tools.client.wait()
        started = time.monotonic()
        events = run(s)
        took = time.monotonic() - started
    (done,) = of_type(events, ExecutionDone)
    assert done.status == "timeout" and done.message == "toy.sleep gave no answer within 1s"
    assert took < 10


def test_a_tool_error_and_a_bad_call_are_errors_the_model_reads(
    with_toy: Settings, fake_pool: KernelPool, tool_model: ScriptedModel
) -> None:
    tool_model.enqueue("", call("toy.fail(why='no luck')"))
    tool_model.enqueue("", call("toy.nothing()", "c2"))
    tool_model.enqueue("", call("toy.add(1, 2, 3)", "c3"))
    with Session(with_toy, model=tool_model, kernels=fake_pool, approver=auto_approve) as s:
        events = run(s)
    statuses = [(d.status, d.error_name) for d in of_type(events, ExecutionDone)]
    assert statuses == [("error", "McpError")] * 3
    read = [m[-1].content for m in tool_model.calls[1:4]]
    assert "Error executing tool fail" in read[0]
    assert "has no tool 'nothing' (it has: add, sleep, crash, fail)" in read[1]
    assert "toy.add takes at most 2 positional arguments" in read[2]


def test_a_server_that_cannot_start_is_a_notice_and_the_others_work(
    settings: Settings, fake_pool: KernelPool, tool_model: ScriptedModel
) -> None:
    broken = McpServer("broken", "loci-no-such-program")
    settings = settings.replace(mcp_servers=(broken, toy()))
    tool_model.enqueue("", call("toy.add(a=1, b=2)"))
    with Session(settings, model=tool_model, kernels=fake_pool, approver=auto_approve) as s:
        events = run(s)
    assert "MCP server 'broken' could not start: no such program: loci-no-such-program" in (
        notices(events)
    )
    assert of_type(events, ExecutionDone)[0].status == "ok"
    assert events[-1].status == "done"


def test_on_a_gateway_only_a_tool_call_model_is_told_of_the_tools(with_toy: Settings) -> None:
    from loci.kernels.fake import FakeKernel
    from loci.kernels.pool import Gateway

    pool = KernelPool(
        with_toy.workdir,
        factory=lambda language: FakeKernel(language, workdir=with_toy.workdir),
        gateway=Gateway("http://127.0.0.1:9"),
    )
    pool._specs = {"python": "python3"}  # as if the gateway had been asked
    text_model = ScriptedModel(["Hm."])
    with Session(with_toy, model=text_model, kernels=pool, approver=auto_approve) as s:
        events = run(s)
        assert pool.env is None and s.tools.bridge is None  # its kernels cannot reach one
        tool_model = ScriptedModel(["Hm."], tools=True)
        s.switch_model(tool_model)
        run(s)
    assert any("code on a Kernel Gateway cannot call MCP tools" in n for n in notices(events))
    assert "MCP" not in text_model.calls[0][0].content
    told = tool_model.calls[0][0].content
    assert "- toy.add(a, b): Add two numbers." in told and "Inside `execute`" not in told
    assert [t.name for t in tool_model.offered[0]][:1] == ["toy__add"]


def test_without_the_extra_a_notice_names_the_install_command(
    with_toy: Settings, fake_pool: KernelPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "mcp", None)  # as if `mcp` were not installed
    model = ScriptedModel(["Fine."])
    with Session(with_toy, model=model, kernels=fake_pool, approver=auto_approve) as s:
        events = run(s)
    assert any("pip install 'loci[mcp]'" in n for n in notices(events))
    assert "MCP" not in model.calls[0][0].content and events[-1].status == "done"


# -- from Python, in a real (sandboxed) kernel ---------------------------------------------


@pytest.fixture
def kernel_session(settings: Settings) -> Iterator[tuple[Session, ScriptedModel]]:
    confined = settings.replace(mcp_servers=(toy(),), network=False)
    model = ScriptedModel()  # text mode: the model writes Python that calls the tools
    with Session(confined, model=model, approver=auto_approve) as s:
        yield s, model


CODE = """\
print(toy.add(40, b=2))
try:
    toy.fail(why="boom")
except McpError as exc:
    print("failed:", exc)
"""


def test_python_code_calls_the_tools_and_each_call_is_stored(
    kernel_session: tuple[Session, ScriptedModel],
) -> None:
    s, model = kernel_session
    model.enqueue(f"```python\n{CODE}```")
    model.enqueue("It is 42.")
    events = run(s, "what is 40 + 2?")
    assert "toy.add(a, b): Add two numbers." in model.calls[0][0].content
    printed = "".join(o.data for o in of_type(events, Output))
    assert printed == "42.0\nfailed: Error executing tool fail\n"
    assert "the code called the MCP tool toy.add(a=40, b=2): ok" in notices(events)
    block, add, fail = s.store.get_conversation(s.conversation_id).executions
    assert block.language == "python"
    if probe().available:  # the bridge reached through bubblewrap, the network cut
        assert block.sandbox == "workspace,no-network"
    assert (add.code, add.status) == ("toy.add(a=40, b=2)", "ok")
    assert add.block_id == f"{block.block_id}.mcp1"
    assert add.sandbox == "mcp:toy" and add.approved_by == "auto"
    assert add.message == f"called by the code of block {block.block_id}"
    assert (fail.code, fail.status) == ("toy.fail(why='boom')", "error")
    assert fail.error_name == "McpError"


def test_the_functions_survive_a_kernel_restart_and_a_dead_server_raises(
    kernel_session: tuple[Session, ScriptedModel],
) -> None:
    s, model = kernel_session
    s.kernels.get("python")
    s.kernels.restart("python")  # PYTHONSTARTUP defines them again
    catching = "```python\ntry:\n    {}\nexcept McpError as exc:\n    print(exc)\n```"
    model.enqueue(catching.format("toy.crash()"))
    model.enqueue(catching.format("toy.add(1, 2)"))
    model.enqueue("The server stopped.")
    events = run(s)
    first, second = [o.data for o in of_type(events, Output)]
    assert first == "the MCP server 'toy' stopped during the call\n"
    assert "the MCP server 'toy' is not running: it stopped during a call to crash" in second
    assert events[-1].status == "done"


def ask_bridge(s: Session, request: dict[str, object]) -> dict[str, object]:
    assert s.tools.bridge is not None
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.connect(str(s.tools.bridge.socket))
        conn.sendall(json.dumps(request).encode() + b"\n")
        answer: dict[str, object] = json.loads(conn.makefile("rb").readline())
    return answer


def test_the_bridge_needs_the_token_and_a_running_block(
    with_toy: Settings, fake_pool: KernelPool
) -> None:
    with Session(with_toy, model=ScriptedModel(), kernels=fake_pool) as s:
        assert s.tools.bridge is not None
        token = s.tools.bridge.token
        assert fake_pool.env is not None and fake_pool.env["LOCI_MCP_TOKEN"] == token
        a_call = {"server": "toy", "tool": "add", "args": [1, 2], "kwargs": {}}
        assert "token" in str(ask_bridge(s, {**a_call, "token": "guess"})["error"])
        idle = ask_bridge(s, {**a_call, "token": token})
        assert idle == {"ok": False, "error": "MCP tools answer only while loci runs a block "
                        "of this conversation"}  # fmt: skip
        listed = ask_bridge(s, {"server": "toy", "list": True, "token": token})
        assert listed["ok"] and "add" in listed["value"]  # type: ignore[operator]
        folder = s.tools.bridge.folder
    assert not folder.exists()  # closed with the session


# -- streamable HTTP -----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
def http_server() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, TOY, "http", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_a_streamable_http_server(
    settings: Settings, fake_pool: KernelPool, tool_model: ScriptedModel, http_server: str
) -> None:
    remote = McpServer("remote", url=http_server, headers=(("X-Test", "1"),))
    settings = settings.replace(mcp_servers=(remote,))
    tool_model.enqueue("", call("remote.add(a=1.5, b=2)"))
    with Session(settings, model=tool_model, kernels=fake_pool, approver=auto_approve) as s:
        events = run(s)
    assert [o.data for o in of_type(events, Output)] == ["3.5\n"]


def test_a_result_gives_text_to_read_images_to_show_and_a_value_to_return() -> None:
    raw = CallToolResult(
        content=[
            TextContent(text="three"),
            ImageContent(data="iVBORw0KGgo=", mime_type="image/png"),
            EmbeddedResource(resource=TextResourceContents(uri="file:///n.txt", text="notes")),
        ],
        structured_content={"result": 3},
    )
    result = to_result(raw, {"properties": {"result": {"type": "integer"}}})
    assert (result.status, result.text, result.value) == ("ok", "three\nnotes", 3)
    assert result.images == (("image/png", "iVBORw0KGgo="),)
    assert to_result(raw, None).value == {"result": 3}  # no schema says it was wrapped
    shown = list(outputs(result))
    assert [(getattr(e, "stream", ""), getattr(e, "mime", "")) for e in shown[:2]] == [
        ("stdout", "text/plain"),
        ("display", "image/png"),
    ]
    structured = to_result(CallToolResult(content=[], structured_content={"t": 21.5}))
    assert (structured.text, structured.value) == ('{"t": 21.5}', {"t": 21.5})
    failed = to_result(CallToolResult(content=[TextContent(text="bad city")], is_error=True))
    assert (failed.status, failed.message) == ("error", "bad city")
