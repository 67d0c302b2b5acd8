"""The HTTP API with the scripted model and real kernels, on a real uvicorn server."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator

import pytest
from web_helpers import ServerFactory, drive, read_events, wait_for

from loci.messages import ToolCall
from loci.store import Store


def test_chat_approve_run_and_replay(start_server: ServerFactory) -> None:
    srv = start_server()
    srv.model.enqueue("Let me compute.", [ToolCall("c1", "python", "print(6 * 7)")])
    srv.model.enqueue("It is **42**.")
    with srv.client() as c:
        conv = c.post("/api/conversations", json={}).json()
        cid = conv["id"]
        sent = c.post(f"/api/conversations/{cid}/messages", json={"text": "6*7?"})
        assert sent.status_code == 202
        code = wait_for(c, cid, "code", after=sent.json()["after"])
        # a second request while this one runs is refused
        assert c.post(f"/api/conversations/{cid}/messages", json={"text": "x"}).status_code == 409
        ok = c.post(
            f"/api/conversations/{cid}/approvals",
            json={"block_id": code["id"], "sha256": code["sha256"], "action": "run"},
        )
        assert ok.status_code == 200 and ok.json()["approved"]
        events = read_events(c, cid)
        # the same events as `loci --json`, in order, each exactly once
        types = [e["type"] for e in events]
        assert types[0] == "turn_start" and types[-1] == "turn_done"
        assert types.count("code") == 1 and types.count("turn_done") == 1
        outs = [e["data"] for e in events if e["type"] == "output"]
        assert outs == ["42\n"]
        assert events[-1]["status"] == "done"
        # reconnecting with Last-Event-ID replays only what came after it
        rest = c.get(
            f"/api/conversations/{cid}/events",
            params={"until": "idle"},
            headers={"Last-Event-ID": str(len(events) - 1)},
        )
        assert rest.text.count("data: ") == 1 and '"turn_done"' in rest.text
        # the same SQLite history as the CLI
        listed = c.get("/api/conversations").json()
        assert listed[0]["id"] == cid and listed[0]["title"] == "6*7?"
        record = c.get(f"/api/conversations/{cid}").json()
        assert record["items"][-1]["content"] == "It is **42**."
        assert record["live"]["running"] is False
    with Store(srv.settings.db_path) as store:
        assert store.get_conversation(cid).executions[0].outputs[0].data == "42\n"


def test_approval_is_bound_to_the_hash_and_edits_run_exactly(start_server: ServerFactory) -> None:
    srv = start_server()
    srv.model.enqueue("", [ToolCall("c1", "python", "print('original')")])
    with srv.client() as c:
        cid = c.post("/api/conversations", json={}).json()["id"]
        after = c.post(f"/api/conversations/{cid}/messages", json={"text": "go"}).json()["after"]
        code = wait_for(c, cid, "code", after=after)
        url = f"/api/conversations/{cid}/approvals"
        stale = hashlib.sha256(b"print('something else')").hexdigest()
        bad = c.post(url, json={"block_id": code["id"], "sha256": stale})
        assert bad.status_code == 409 and "hash" in bad.json()["error"]
        unknown = c.post(url, json={"block_id": "nope", "sha256": code["sha256"]})
        assert unknown.status_code == 409
        edited = "print('edited')"
        ok = c.post(url, json={"block_id": code["id"], "sha256": code["sha256"], "code": edited})
        assert ok.json()["sha256"] == hashlib.sha256(edited.encode()).hexdigest()
        events = read_events(c, cid, after)
    approval = next(e for e in events if e["type"] == "approval")
    assert approval["code"] == edited and approval["by"] == "user"
    assert [e["code"] for e in events if e["type"] == "execution_start"] == [edited]
    assert [e["data"] for e in events if e["type"] == "output"] == ["edited\n"]


def test_skip_auto_run_and_stop(start_server: ServerFactory) -> None:
    srv = start_server()
    srv.model.enqueue("", [ToolCall("c1", "shell", "echo never")])
    srv.model.enqueue("Skipped.")
    with srv.client() as c:
        cid = c.post("/api/conversations", json={}).json()["id"]
        after = c.post(f"/api/conversations/{cid}/messages", json={"text": "a"}).json()["after"]
        events = drive(c, cid, after, "skip")
        assert not [e for e in events if e["type"] == "execution_start"]
        assert events[-1]["status"] in ("done", "max_steps", "repeated")
        # auto-run for this conversation, then Stop while the code sleeps
        srv.model.enqueue(
            "",
            [ToolCall("c2", "python", "import time\nprint('start', flush=True)\ntime.sleep(60)")],
        )
        s = c.post(f"/api/conversations/{cid}/settings", json={"auto_run": True})
        assert s.json()["auto_run"] is True
        after = c.post(f"/api/conversations/{cid}/messages", json={"text": "b"}).json()["after"]
        wait_for(c, cid, "output", after=after)
        started = time.monotonic()
        assert c.post(f"/api/conversations/{cid}/interrupt", json={}).status_code == 200
        events = read_events(c, cid, after)
        assert time.monotonic() - started < 20
    done = next(e for e in events if e["type"] == "execution_done")
    assert done["status"] == "interrupted"
    assert events[-1]["type"] == "turn_done" and events[-1]["status"] == "interrupted"


def _chunks(total: int, size: int = 1 << 20) -> Iterator[bytes]:
    block = bytes(range(256)) * (size // 256)
    sent = 0
    while sent < total:
        piece = block[: min(size, total - sent)]
        sent += len(piece)
        yield piece


def test_upload_use_and_download(start_server: ServerFactory) -> None:
    srv = start_server()
    total = 24 * (1 << 20)
    srv.model.enqueue(
        "",
        [
            ToolCall(
                "c1",
                "python",
                "import os\nprint(os.path.getsize('data/big.bin'))\n"
                "_ = open('out.txt', 'w').write('made by code')",
            )
        ],
    )
    with srv.client() as c:
        cid = c.post("/api/conversations", json={"auto_run": True}).json()["id"]
        up = c.put(f"/api/conversations/{cid}/files/data/big.bin", content=_chunks(total))
        assert up.status_code == 201 and up.json()["size"] == total
        after = c.post(f"/api/conversations/{cid}/messages", json={"text": "size?"}).json()
        events = read_events(c, cid, after["after"])
        assert [e["data"] for e in events if e["type"] == "output"] == [f"{total}\n"]
        listed = {f["path"] for f in c.get(f"/api/conversations/{cid}/files").json()["files"]}
        assert {"data/big.bin", "out.txt"} <= listed
        down = c.get(f"/api/conversations/{cid}/files/out.txt")
        assert down.status_code == 200 and down.content == b"made by code"
        assert down.headers["content-disposition"].startswith("attachment")
        assert "sandbox" in down.headers["content-security-policy"]
        assert c.get(f"/api/conversations/{cid}/files/missing.txt").status_code == 404


def test_two_conversations_have_their_own_kernels(start_server: ServerFactory) -> None:
    srv = start_server()
    srv.model.enqueue("", [ToolCall("a", "python", "x = 1\nprint(x)")])
    with srv.client() as c:
        one = c.post("/api/conversations", json={"auto_run": True}).json()["id"]
        two = c.post("/api/conversations", json={"auto_run": True}).json()["id"]
        a1 = c.post(f"/api/conversations/{one}/messages", json={"text": "set"}).json()["after"]
        e1 = read_events(c, one, a1)
        srv.model.enqueue("", [ToolCall("b", "python", "print('x' in globals())")])
        a2 = c.post(f"/api/conversations/{two}/messages", json={"text": "get"}).json()["after"]
        e2 = read_events(c, two, a2)
    assert [e["data"] for e in e1 if e["type"] == "output"] == ["1\n"]
    assert [e["data"] for e in e2 if e["type"] == "output"] == ["False\n"]


def test_secret_variables_never_reach_a_served_kernel(
    start_server: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``loci serve`` in single-user mode: the kernels get no API keys or tokens."""
    secrets = {"OPENAI_API_KEY": "sk-web-lociSECRET0123", "GITHUB_TOKEN": "ghp_webSECRET0123"}
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    srv = start_server()
    code = "import os\nprint(sorted(k for k in os.environ if 'KEY' in k or 'TOKEN' in k))"
    srv.model.enqueue("", [ToolCall("c1", "python", code)])
    srv.model.enqueue("", [ToolCall("c2", "shell", "env | grep -c -E 'KEY|TOKEN'")])
    with srv.client() as c:
        cid = c.post("/api/conversations", json={"auto_run": True}).json()["id"]
        after = c.post(f"/api/conversations/{cid}/messages", json={"text": "env?"}).json()
        events = read_events(c, cid, after["after"])
    assert [e["data"] for e in events if e["type"] == "output"] == ["[]\n", "0\n"]


def test_the_kernel_state_route(start_server: ServerFactory) -> None:
    srv = start_server()
    srv.model.enqueue("", [ToolCall("c1", "python", "table = {'a': 1}\nimport math")])
    srv.model.enqueue("Done.")
    with srv.client() as c:
        cid = c.post("/api/conversations", json={}).json()["id"]
        before = c.get(f"/api/conversations/{cid}/state").json()
        assert before == {"id": cid, "state": None, "listing": None, "summary": ""}
        sent = c.post(f"/api/conversations/{cid}/messages", json={"text": "go"})
        drive(c, cid, sent.json()["after"], "run")
        got = c.get(f"/api/conversations/{cid}/state").json()
        table = got["state"]["variables"][0]
        assert (table["name"], table["kind"], table["detail"]) == ("table", "value", "len 1")
        assert got["summary"].startswith("The Python session holds: table: dict len 1.")
        listing = got["listing"]
        assert listing["names"] == [{"text": "table: dict len 1", "changed": True}]
        assert listing["imports"] == ["math"] and listing["cwd"]
        assert c.get("/api/conversations/999/state").status_code == 404
