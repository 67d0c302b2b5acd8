"""``loci acp`` driven by the SDK's client side over stdio, as an editor drives it: real
kernels, a scripted model, the history database in a temporary LOCI_HOME."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from acp import RequestError, text_block
from acp_editor import STEP_S, Editor, Start, shown_text

from loci.store import Store


def code(source: str, text: str = "") -> dict[str, Any]:
    """A scripted reply that runs ``source`` in Python (a native tool call)."""
    return {"text": text, "tool_calls": [{"language": "python", "code": source}]}


async def prompt(ed: Editor, session_id: str, text: str) -> str:
    response = await asyncio.wait_for(
        ed.conn.prompt(session_id=session_id, prompt=[text_block(text)]), STEP_S
    )
    await ed.settled()
    return str(response.stop_reason)


def test_a_whole_session_streams_text_and_tool_calls_and_asks_before_running(
    editor: Start,
    script: Callable[..., str],
    project: Path,
    left_behind: Callable[[Path], list[int]],
) -> None:
    spec = script(
        code("print(6 * 7)", "Let me compute."),
        "It is 42.",
        code("print('should not run')"),
        "I did not run it.",
        code("print('first')"),
        code("print('second')"),
        "Both ran.",
    )

    async def scenario() -> None:
        async with editor("-m", spec) as ed:
            new = await ed.conn.new_session(cwd=str(project), mcp_servers=[])
            sid = new.session_id
            assert new.modes.current_mode_id == "ask"
            assert {o.id for o in new.config_options} == {"model", "mode"}

            ed.answers = ["allow"]
            assert await prompt(ed, sid, "what is 6*7?") == "end_turn"
            assert "Let me compute." in ed.text(sid) and "It is 42." in ed.text(sid)
            (call,) = ed.tool_calls(sid).values()
            assert call["kind"] == "execute" and call["status"] == "completed"
            assert "print(6 * 7)" in shown_text(call) and "42" in shown_text(call)
            asked, options = ed.asked[0]
            assert "print(6 * 7)" in shown_text(asked.model_dump())
            assert options == ["allow", "always", "reject"]

            ed.answers = ["reject"]
            assert await prompt(ed, sid, "print something") == "end_turn"
            refused = list(ed.tool_calls(sid).values())[1]
            assert refused["status"] == "failed" and "not run" in shown_text(refused)
            assert "should not run\n" not in shown_text(refused).replace("print('should", "")

            ed.answers = ["always"]
            assert await prompt(ed, sid, "two blocks") == "end_turn"
            assert len(ed.asked) == 3  # "always": the second block ran without asking
            assert [u.current_mode_id for u in ed.of(sid, "current_mode_update")] == ["auto"]
            last = list(ed.tool_calls(sid).values())[-1]
            assert last["status"] == "completed" and "second" in shown_text(last)
            titles = [u.title for u in ed.of(sid, "session_info_update")]
            assert titles == ["what is 6*7?"]

    asyncio.run(scenario())
    assert left_behind(project) == []  # the editor closed stdin: every kernel was shut down


def test_risky_code_asks_even_in_auto_mode_and_says_why(
    editor: Start, script: Callable[..., str], project: Path
) -> None:
    spec = script(
        {"tool_calls": [{"language": "shell", "code": "rm -rf ~"}]}, "I left your home alone."
    )

    async def scenario() -> None:
        async with editor("-y", "-m", spec) as ed:
            new = await ed.conn.new_session(cwd=str(project), mcp_servers=[])
            assert new.modes.current_mode_id == "auto"
            ed.answers = ["reject"]
            assert await prompt(ed, new.session_id, "clean up") == "end_turn"
            ((asked, options),) = ed.asked
            assert options == ["allow", "reject"]  # no "always" for risky code
            assert asked.title.startswith("⚠") and "deletes outside the workspace" in (
                shown_text(asked.model_dump())
            )
            (call,) = ed.tool_calls(new.session_id).values()
            assert call["status"] == "failed"

    asyncio.run(scenario())


def test_cancel_stops_a_long_block_quickly_and_the_session_goes_on(
    editor: Start, script: Callable[..., str], project: Path
) -> None:
    spec = script(code("import time\ntime.sleep(60)"), "Back.")

    async def scenario() -> None:
        async with editor("-m", spec) as ed:
            sid = (await ed.conn.new_session(cwd=str(project), mcp_servers=[])).session_id
            await ed.conn.set_session_mode(session_id=sid, mode_id="auto")
            running = asyncio.ensure_future(
                ed.conn.prompt(session_id=sid, prompt=[text_block("sleep")])
            )

            def started() -> bool:
                return any(c.get("status") == "in_progress" for c in ed.tool_calls(sid).values())

            await ed.wait_for(started)
            await asyncio.sleep(0.5)  # inside time.sleep by now
            cancelled_at = time.monotonic()
            await ed.conn.cancel(session_id=sid)
            response = await asyncio.wait_for(running, 15)
            assert response.stop_reason == "cancelled"
            assert time.monotonic() - cancelled_at < 10
            await ed.settled()
            (call,) = ed.tool_calls(sid).values()
            assert call["status"] == "failed" and "interrupted" in shown_text(call)
            assert not ed.asked  # auto mode: nothing was asked
            assert await prompt(ed, sid, "still there?") == "end_turn"
            assert "Back." in ed.text(sid)

    asyncio.run(scenario())


def test_cancel_while_a_permission_request_waits(
    editor: Start, script: Callable[..., str], project: Path
) -> None:
    spec = script(code("print('never')"), "Stopped.")

    async def scenario() -> None:
        async with editor("-m", spec) as ed:
            sid = (await ed.conn.new_session(cwd=str(project), mcp_servers=[])).session_id
            running = asyncio.ensure_future(
                ed.conn.prompt(session_id=sid, prompt=[text_block("try")])
            )
            await ed.wait_for(lambda: bool(ed.asked))  # nobody answers it
            await ed.conn.cancel(session_id=sid)
            response = await asyncio.wait_for(running, 15)
            assert response.stop_reason == "cancelled"
            await ed.settled()
            (call,) = ed.tool_calls(sid).values()
            assert call["status"] == "failed"

    asyncio.run(scenario())


def test_a_past_session_is_listed_loaded_replayed_and_continued(
    editor: Start, script: Callable[..., str], project: Path, loci_home: Path
) -> None:
    first = script(code("print(2**10)", "Computing."), "It is 1024.")
    later = script(code("print('again', 2**11)"), "And 2048.")

    async def scenario() -> str:
        async with editor("-y", "-m", first) as ed:
            sid = (await ed.conn.new_session(cwd=str(project), mcp_servers=[])).session_id
            assert await prompt(ed, sid, "what is 2**10?") == "end_turn"
        async with editor("-y", "-m", later) as ed:
            listed = await ed.conn.list_sessions(cwd=str(project))
            assert [s.session_id for s in listed.sessions] == [sid]
            assert listed.sessions[0].title == "what is 2**10?"
            await ed.conn.load_session(cwd=str(project), session_id=sid, mcp_servers=[])
            await ed.settled()
            assert ed.text(sid, "user_message_chunk") == "what is 2**10?"
            assert "Computing." in ed.text(sid) and "It is 1024." in ed.text(sid)
            (call,) = ed.tool_calls(sid).values()
            assert call["status"] == "completed" and "1024" in shown_text(call)
            assert await prompt(ed, sid, "and 2**11?") == "end_turn"
            assert "again 2048" in shown_text(list(ed.tool_calls(sid).values())[-1])
        return sid

    sid = asyncio.run(scenario())
    with Store(loci_home / "history.db") as store:
        record = store.get_conversation(int(sid))
    requests = [m.content for m in record.messages if m.role == "user" and m.by == "person"]
    assert requests == ["what is 2**10?", "and 2**11?"]  # one conversation, continued


def test_an_image_in_a_prompt_reaches_the_request_as_an_attached_file(
    editor: Start, script: Callable[..., str], project: Path, loci_home: Path
) -> None:
    import base64

    from acp import image_block

    raw = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40
    spec = script(code("import os\nprint(sorted(os.listdir('loci_uploads')))"), "One picture.")

    async def scenario() -> str:
        async with editor("-m", spec, "-y") as ed:
            assert ed.init.agent_capabilities.prompt_capabilities.image is True
            sid = (await ed.conn.new_session(cwd=str(project), mcp_servers=[])).session_id
            blocks = [
                text_block("what is this?"),
                image_block(base64.b64encode(raw).decode(), "image/png"),
            ]
            await asyncio.wait_for(ed.conn.prompt(session_id=sid, prompt=blocks), STEP_S)
            await ed.settled()
            (call,) = ed.tool_calls(sid).values()
            assert "['image-" in shown_text(call)  # the code found the file in the workspace
            return str(sid)

    sid = asyncio.run(scenario())
    with Store(loci_home / "history.db") as store:
        request = next(m for m in store.get_conversation(int(sid)).messages if m.by == "person")
    (saved,) = request.images  # shown to a model that sees; the path is in the text for all
    assert Path(saved).read_bytes() == raw and Path(saved).parent == project / "loci_uploads"
    assert "(attached image: loci_uploads/image-" in request.content


def test_the_model_is_chosen_per_session(
    editor: Start, script: Callable[..., str], project: Path
) -> None:
    default = script("From the default model.")
    other = script("From the other model.")

    async def scenario() -> None:
        async with editor("-m", default, "--offer", other) as ed:
            new = await ed.conn.new_session(cwd=str(project), mcp_servers=[])
            sid = new.session_id
            model = next(o for o in new.config_options if o.id == "model")
            assert model.current_value == default and model.category == "model"
            assert [o.value for o in model.options][:2] == [default, other]
            changed = await ed.conn.set_config_option(
                config_id="model", session_id=sid, value=other
            )
            assert next(o for o in changed.config_options if o.id == "model").current_value == other
            assert await prompt(ed, sid, "hello") == "end_turn"
            assert "From the other model." in ed.text(sid)

    asyncio.run(scenario())


def test_a_session_started_in_the_home_folder_works_in_loci_workspace(
    editor: Start, script: Callable[..., str], acp_env: dict[str, str], tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    spec = script(code("import os\nprint(os.getcwd())"), "There.")

    async def scenario() -> None:
        async with editor("-y", "-m", spec, env={**acp_env, "HOME": str(home)}) as ed:
            sid = (await ed.conn.new_session(cwd=str(home), mcp_servers=[])).session_id
            assert await prompt(ed, sid, "where are you?") == "end_turn"
            workspace = home / "loci-workspace"
            assert f"code works in {workspace}" in ed.text(sid)
            (call,) = ed.tool_calls(sid).values()
            assert str(workspace) in shown_text(call)

    asyncio.run(scenario())


def test_errors_are_acp_errors(editor: Start, script: Callable[..., str], project: Path) -> None:
    spec = script("Hi.")

    async def scenario() -> None:
        async with editor("-m", spec) as ed:
            with pytest.raises(RequestError) as missing:
                await ed.conn.load_session(cwd=str(project), session_id="999", mcp_servers=[])
            assert missing.value.code == -32002 and "999" in str(missing.value)
            with pytest.raises(RequestError) as closed:
                await ed.conn.prompt(session_id="12345", prompt=[text_block("hi")])
            assert closed.value.code == -32002
            with pytest.raises(RequestError) as relative:
                await ed.conn.new_session(cwd="not/absolute", mcp_servers=[])
            assert relative.value.code == -32602
            sid = (await ed.conn.new_session(cwd=str(project), mcp_servers=[])).session_id
            with pytest.raises(RequestError) as unknown:
                await ed.conn.set_config_option(config_id="model", session_id=sid, value="nope:x")
            assert unknown.value.code == -32602 and "nope:x" in str(unknown.value)

    asyncio.run(scenario())


def test_without_the_extra_one_line_names_the_install(
    acp_env: dict[str, str], tmp_path: Path
) -> None:
    hidden = tmp_path / "no-acp" / "acp"
    hidden.mkdir(parents=True)
    (hidden / "__init__.py").write_text("raise ImportError('not installed')\n")
    env = {**acp_env, "PYTHONPATH": os.pathsep.join([str(hidden.parent), acp_env["PYTHONPATH"]])}
    out = subprocess.run(
        [sys.executable, "-m", "loci.cli.main", "acp"],
        env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert out.returncode == 3
    assert out.stderr.strip().splitlines() == [
        "loci: error: loci acp needs the 'agent-client-protocol' package: pip install 'loci[acp]'"
    ]


def test_the_editors_mcp_servers_lend_the_session_their_tools(
    editor: Start, script: Callable[..., str], project: Path
) -> None:
    from acp.schema import McpServerStdio, SseMcpServer

    toy = Path(__file__).parent.parent / "mcp" / "toy_server.py"
    spec = script(code("print(toy.add(a=2, b=3))"), "It is 5.")

    async def scenario() -> None:
        async with editor("-y", "-m", spec) as ed:
            servers = [
                McpServerStdio(name="toy", command=sys.executable, args=[str(toy)], env=[]),
                SseMcpServer(name="old", url="http://127.0.0.1:9/sse", headers=[], type="sse"),
            ]
            new = await ed.conn.new_session(cwd=str(project), mcp_servers=servers)
            assert await prompt(ed, new.session_id, "add 2 and 3 with the toy") == "end_turn"
            (call,) = ed.tool_calls(new.session_id).values()
            assert call["status"] == "completed" and "5" in shown_text(call)
            assert "speaks SSE, which loci does not use" in ed.text(new.session_id)

    asyncio.run(scenario())
