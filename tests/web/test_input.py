"""The code's input() answered through the HTTP API (real kernel, real server)."""

from __future__ import annotations

import json
from typing import Any

import httpx
from web_helpers import ServerFactory, read_events, wait_for

from loci.messages import ToolCall
from loci.store import Store


def nth_input_request(c: httpx.Client, cid: int, after: int, n: int) -> dict[str, Any]:
    """The ``n``-th input_request event after ``after`` (1: the first)."""
    with c.stream("GET", f"/api/conversations/{cid}/events", params={"after": after}) as resp:
        for line in resp.iter_lines():
            if line.startswith("data: "):
                event: dict[str, Any] = json.loads(line[6:])
                n -= event["type"] == "input_request"
                if n == 0:
                    return event
    raise AssertionError("the stream ended first")


def test_input_is_answered_through_the_api_and_a_password_is_not_stored(
    start_server: ServerFactory,
) -> None:
    srv = start_server()
    code = "import getpass\nn = input('name? ')\np = getpass.getpass('pw: ')\nprint(n, len(p))"
    srv.model.enqueue("", [ToolCall("c1", "python", code)])
    srv.model.enqueue("Done.")
    with srv.client() as c:
        cid = c.post("/api/conversations", json={"auto_run": True}).json()["id"]
        after = c.post(f"/api/conversations/{cid}/messages", json={"text": "go"}).json()["after"]
        ask = wait_for(c, cid, "input_request", after)
        bad = {"execution_id": ask["execution_id"] + 1, "text": "x"}
        assert ask["prompt"] == "name? " and not ask["password"]
        url = f"/api/conversations/{cid}/input"
        assert c.post(url, json=bad).status_code == 409
        assert c.get(f"/api/conversations/{cid}").json()["live"]["waiting_input"] == [
            ask["execution_id"]
        ]
        ok = c.post(url, json={"execution_id": ask["execution_id"], "text": "Ada"})
        assert ok.status_code == 200 and ok.json()["prompt"] == "name? "
        pw = nth_input_request(c, cid, after, 2)
        assert pw["password"]
        typed = {"execution_id": pw["execution_id"], "text": "hunter2"}
        assert c.post(url, json=typed).status_code == 200
        events = read_events(c, cid, after)
    outs = [(e["stream"], e["data"]) for e in events if e["type"] == "output"]
    assert outs == [("stdin", "name? Ada\n"), ("stdin", "pw: ••••\n"), ("stdout", "Ada 7\n")]
    with Store(srv.settings.db_path) as store:
        assert "hunter2" not in str(store.get_conversation(cid).to_dict())
