"""POST /api/conversations/ID/branch: edit an earlier request, go on in a new conversation."""

from __future__ import annotations

from web_helpers import ServerFactory, read_events

from loci.prompts import RESUMED_NOTE


def test_branch_runs_the_edited_request_after_a_copy_of_what_came_before(
    start_server: ServerFactory,
) -> None:
    srv = start_server(real_kernels=False)
    for reply in ("Counted them all.", "Doubled it.", "Tripled it."):
        srv.model.enqueue(reply)
    with srv.client() as c:
        cid = c.post("/api/conversations", json={}).json()["id"]
        for text in ("count the rows", "double it"):
            after = c.post(f"/api/conversations/{cid}/messages", json={"text": text}).json()
            read_events(c, cid, after["after"])
        parent_before = c.get(f"/api/conversations/{cid}").json()
        numbered = [i.get("request") for i in parent_before["items"] if i["kind"] == "message"]
        assert numbered == [1, None, 2, None]  # what the browser's Edit button sends

        made = c.post(f"/api/conversations/{cid}/branch", json={"request": 2, "text": "triple it"})
        assert made.status_code == 201, made.text
        branch = made.json()
        assert branch["id"] != cid and branch["parent_id"] == cid
        events = read_events(c, branch["id"], branch["after"])
        assert events[0] == {"type": "turn_start", "conversation_id": branch["id"],
                             "text": "triple it"}  # fmt: skip
        assert events[-1]["type"] == "turn_done" and events[-1]["status"] == "done"

        sent = [m.content for m in srv.model.calls[-1]]
        assert sent[1:] == ["count the rows", "Counted them all.", RESUMED_NOTE, "triple it"]
        record = c.get(f"/api/conversations/{branch['id']}").json()
        assert record["parent_id"] == cid and record["branched_at_request"] == 2
        assert [i["content"] for i in record["items"] if i.get("request")] == [
            "count the rows",
            "triple it",
        ]
        parent_after = c.get(f"/api/conversations/{cid}").json()
        assert parent_after["items"] == parent_before["items"]  # the old branch stays
        listed = {row["id"]: row for row in c.get("/api/conversations").json()}
        assert listed[branch["id"]]["parent_id"] == cid and listed[cid]["parent_id"] is None


def test_branch_refuses_what_it_cannot_do(start_server: ServerFactory) -> None:
    srv = start_server(real_kernels=False)
    srv.model.enqueue("one")
    with srv.client() as c:
        cid = c.post("/api/conversations", json={}).json()["id"]
        after = c.post(f"/api/conversations/{cid}/messages", json={"text": "say one"}).json()
        read_events(c, cid, after["after"])
        url = f"/api/conversations/{cid}/branch"
        missing = c.post(url, json={"request": 2, "text": "x"})
        assert missing.status_code == 404 and "no request 2" in missing.json()["error"]
        blank = c.post(url, json={"request": 1, "text": "  "})
        assert blank.status_code == 400 and blank.json()["error"] == "'text' is empty"
        said = c.post(f"/api/conversations/{cid}/messages", json={"text": " \n"})
        assert said.status_code == 400 and said.json()["error"] == "'text' is empty"
        assert c.post(url, json={"request": "1", "text": "x"}).status_code == 400
        assert c.post(url, json={"text": "x"}).status_code == 400
        assert (
            c.post("/api/conversations/999/branch", json={"request": 1, "text": "x"}).status_code
            == 404
        )
        assert len(c.get("/api/conversations").json()) == 1  # no branch was made
