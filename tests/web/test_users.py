"""Multi-user ``loci serve --users``: per-user tokens (stored hashed), isolation of
conversations and files, per-user kernel caps, idle shutdown."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from web_helpers import ServerFactory, drive, read_events, wait_for

from loci.cli.users_cmd import users as users_cmd
from loci.config import Settings
from loci.errors import ConfigError
from loci.kernels.fake import FakeKernel
from loci.kernels.pool import KernelPool
from loci.mcp_servers import McpServer
from loci.store import Store
from loci.store.users import Users, hash_token


def _users(settings: Settings) -> Users:
    return Users(Store(settings.db_path))


def test_tokens_are_stored_only_as_hashes(web_settings: Settings) -> None:
    users = _users(web_settings)
    token = users.add("ana", max_kernels=2)
    user = users.by_token(token)
    assert user is not None and user.name == "ana" and user.max_kernels == 2
    raw = sqlite3.connect(web_settings.db_path).execute("SELECT * FROM users").fetchall()
    assert token not in repr(raw) and hash_token(token) in repr(raw)
    assert users.by_token(token + "x") is None and users.by_token("") is None
    new = users.new_token("ana")
    assert users.by_token(token) is None and users.by_token(new) == user
    with pytest.raises(ConfigError, match="already exists"):
        users.add("ana")
    with pytest.raises(ConfigError, match="bad user name"):
        users.add("../x")
    users.remove("ana")
    assert users.by_token(new) is None and users.all() == []


def _client(url: str, token: str) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=url, headers=headers, timeout=30)


def test_each_user_sees_only_their_own_conversations_and_files(
    start_server: ServerFactory, web_settings: Settings
) -> None:
    users = _users(web_settings)
    ana, bob = users.add("ana"), users.add("bob")
    srv = start_server(real_kernels=False, users=users)
    srv.model.enqueue("Hello Ana.")
    with _client(srv.url, ana) as a, _client(srv.url, bob) as b:
        cid = a.post("/api/conversations", json={}).json()["id"]
        after = a.post(f"/api/conversations/{cid}/messages", json={"text": "hi"}).json()["after"]
        assert drive(a, cid, after, "run")[-1]["status"] == "done"
        assert a.put(f"/api/conversations/{cid}/files/secret.txt", content=b"ana's").is_success
        workspace = Path(a.get(f"/api/conversations/{cid}/files").json()["workspace"])
        assert workspace.parent.name == "ana"
        assert [c["id"] for c in a.get("/api/conversations").json()] == [cid]
        assert b.get("/api/conversations").json() == []
        base = f"/api/conversations/{cid}"
        for method, path, body in [
            ("GET", base, None),
            ("GET", base + "/events", None),
            ("GET", base + "/files", None),
            ("GET", base + "/files/secret.txt", None),
            ("PUT", base + "/files/evil.txt", b"x"),
            ("POST", base + "/messages", {"text": "hi"}),
            ("POST", base + "/interrupt", {}),
            ("POST", base + "/settings", {"auto_run": True}),
            ("POST", base + "/approvals", {"block_id": "b", "sha256": "0"}),
        ]:
            if isinstance(body, bytes):
                resp = b.request(method, path, content=body)
            else:
                resp = b.request(method, path, json=body)
            assert resp.status_code == 404, (method, path, resp.text)
        assert not (workspace / "evil.txt").exists()
        own = b.post("/api/conversations", json={}).json()["id"]
        assert [c["id"] for c in b.get("/api/conversations").json()] == [own]
        assert a.get(f"/api/conversations/{own}").status_code == 404
    for token in ("", "wrong", "test-token-0123456789"):
        with _client(srv.url, token) as c:
            assert c.get("/api/conversations").status_code == 401


def _counting_pool(made: list[FakeKernel]):  # type: ignore[no-untyped-def]
    def factory(settings: Settings, workspace: Path) -> KernelPool:
        def kernel(lang: str) -> FakeKernel:
            made.append(FakeKernel(lang, workdir=workspace))
            return made[-1]

        return KernelPool(workspace, factory=kernel)

    return factory


def test_a_user_over_their_kernel_cap_reuses_idle_ones_or_is_refused(
    start_server: ServerFactory, web_settings: Settings
) -> None:
    users = _users(web_settings)
    ana = users.add("ana", max_kernels=1)
    made: list[FakeKernel] = []
    srv = start_server(users=users, max_kernels=5, pool_factory=_counting_pool(made))
    srv.model.enqueue("one")
    with _client(srv.url, ana) as a:
        first = a.post("/api/conversations", json={}).json()["id"]
        after = a.post(f"/api/conversations/{first}/messages", json={"text": "a"}).json()["after"]
        drive(a, first, after, "run")
        # a second conversation: the idle first one is closed to make room (its kernels stop)
        second = a.post("/api/conversations", json={}).json()["id"]
        hub = srv.app.state.web.hub
        assert hub.get(first) is None and hub.get(second) is not None
        _eventually(lambda: made[0].shutdowns == 1)
        assert made[-1].shutdowns == 0
        # while the second one waits for an approval it is busy: no room for a third
        srv.model.enqueue("", [_call("print(1)")])
        after = a.post(f"/api/conversations/{second}/messages", json={"text": "b"}).json()["after"]
        code = wait_for(a, second, "code", after)
        refused = a.post("/api/conversations", json={})
        assert refused.status_code == 429 and "limit is 1" in refused.json()["error"]
        a.post(f"/api/conversations/{second}/interrupt", json={})
        assert code["id"]


def _eventually(check, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "did not happen in time"
        time.sleep(0.02)


def _call(code: str):  # type: ignore[no-untyped-def]
    from loci.messages import ToolCall

    return ToolCall("c1", "python", code)


def test_idle_conversations_lose_their_kernels_and_resume(
    start_server: ServerFactory, web_settings: Settings
) -> None:
    made: list[FakeKernel] = []
    srv = start_server(idle_timeout=0.3, pool_factory=_counting_pool(made))
    srv.model.enqueue("first")
    srv.model.enqueue("second")
    with srv.client() as c:
        cid = c.post("/api/conversations", json={}).json()["id"]
        after = c.post(f"/api/conversations/{cid}/messages", json={"text": "a"}).json()["after"]
        drive(c, cid, after, "run")
        hub = srv.app.state.web.hub
        deadline = time.monotonic() + 10
        while hub.get(cid) is not None:
            assert time.monotonic() < deadline, "the idle conversation was not closed"
            time.sleep(0.05)
        _eventually(lambda: bool(made) and all(k.shutdowns == 1 for k in made))
        # its live events are let go (the store has them); numbering goes on
        log = hub.log(cid)
        _eventually(lambda: log.since(0) == [])
        seen = log.last_seq
        assert seen > 0
        # a client that asks for the dropped events is told to reload the page
        stale = read_events(c, cid, after=0)
        assert [e["type"] for e in stale] == ["notice"]
        assert "reload the page" in stale[0]["message"]
        with c.stream("GET", f"/api/conversations/{cid}/events?until=idle") as resp:
            assert f"id: {seen}" in list(resp.iter_lines())  # numbered, so browsers keep it
        # the next request resumes it: history kept, new kernels
        after = c.post(f"/api/conversations/{cid}/messages", json={"text": "b"}).json()["after"]
        assert after == seen
        events = drive(c, cid, after, "run")
        assert events[-1]["status"] == "done"
        record = c.get(f"/api/conversations/{cid}").json()
        assert [i["content"] for i in record["items"] if i.get("role") == "assistant"] == [
            "first",
            "second",
        ]


def test_users_command_adds_lists_rotates_and_removes(web_settings: Settings) -> None:
    run = CliRunner().invoke
    added = run(users_cmd, ["add", "ana", "--max-kernels", "3"])
    assert added.exit_code == 0, added.output
    token = added.stdout.strip().splitlines()[0]
    assert _users(web_settings).by_token(token) is not None
    listed = run(users_cmd, ["list"])
    assert "ana" in listed.stdout and "3" in listed.stdout
    rotated = run(users_cmd, ["token", "ana"]).stdout.strip()
    assert _users(web_settings).by_token(token) is None
    assert _users(web_settings).by_token(rotated) is not None
    assert run(users_cmd, ["remove", "ana"]).exit_code == 0
    assert _users(web_settings).all() == []


def test_serve_users_needs_a_user_the_sandbox_and_no_shared_token(
    web_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from loci.cli.serve_cmd import serve

    none = CliRunner().invoke(serve, ["--users", "--port", "0"])
    assert none.exit_code != 0 and "loci users add" in none.output
    both = CliRunner().invoke(serve, ["--users", "--token", "x" * 40])
    assert both.exit_code != 0 and "exclude" in both.output
    _users(web_settings).add("ana")
    off = CliRunner().invoke(serve, ["--users", "--port", "0", "--sandbox", "off"])
    assert off.exit_code != 0 and "--allow-unconfined" in off.output  # the flag, as in `loci`
    monkeypatch.setenv("LOCI_SANDBOX", "off")
    bare = CliRunner().invoke(serve, ["--users", "--port", "0"])
    assert bare.exit_code != 0 and "--allow-unconfined" in bare.output


def test_a_users_code_cannot_reach_the_history_other_users_or_secrets(
    start_server: ServerFactory,
    web_settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from loci.sandbox import probe

    if not probe().available:
        pytest.skip(f"no sandbox here: {probe().reason}")
    monkeypatch.setenv("LOCI_TEST_API_KEY", "s3cret-key")  # e.g. the server's model API key
    users = _users(web_settings)
    ana, bob = users.add("ana"), users.add("bob")
    settings = web_settings.replace(sandbox="workspace")
    # the default workspace root, inside LOCI_HOME, as `loci serve --users` uses it
    srv = start_server(settings=settings, users=users, workspace_root=settings.home / "workspaces")
    home = settings.home
    peek = (
        "import os, sys\n"
        f"home = {str(home)!r}\n"
        "print('db', os.path.exists(os.path.join(home, 'history.db')))\n"
        "print('users', sorted(os.listdir(os.path.join(home, 'users'))))\n"
        "print('others', sorted(os.listdir(os.path.join(home, 'workspaces'))))\n"
        "print('key', 'LOCI_TEST_API_KEY' in os.environ)\n"
        "print('venv', sys.prefix)\n"
        "open(os.path.join(sys.prefix, 'planted.pth'), 'w').write('')\n"
        "open('mine.txt', 'w').write('ok'); print('wrote', open('mine.txt').read())"
    )
    srv.model.enqueue("", [_call("print('bob ran')")])
    srv.model.enqueue("ok")
    srv.model.enqueue("", [_call(peek)])
    srv.model.enqueue("done")
    with _client(srv.url, bob) as b:  # bob has a workspace and a venv too
        cid = b.post("/api/conversations", json={"auto_run": True}).json()["id"]
        after = b.post(f"/api/conversations/{cid}/messages", json={"text": "hi"}).json()
        assert "bob ran" in str(drive(b, cid, after["after"], "run"))
    with _client(srv.url, ana) as a:
        cid = a.post("/api/conversations", json={"auto_run": True}).json()["id"]
        after = a.post(f"/api/conversations/{cid}/messages", json={"text": "peek"}).json()
        events = drive(a, cid, after["after"], "run")
    printed = "".join(e["data"] for e in events if e["type"] == "output")
    assert "db False" in printed and "key False" in printed, printed
    assert "users ['ana']" in printed and "bob" not in printed, printed
    assert f"venv {home / 'users' / 'ana'}" in printed and "wrote ok" in printed, printed
    # what ana planted in her venv is hers alone
    assert (home / "users" / "ana").is_dir() and not list(
        (home / "users" / "bob").rglob("planted.pth")
    )


def test_trimming_an_event_log_keeps_what_came_after_the_mark() -> None:
    from loci.web.eventlog import EventLog

    log = EventLog()
    for n in range(3):
        log.append({"n": n})
    mark = log.last_seq
    log.append({"n": 3})  # a turn that started again before the retired one finished closing
    log.trim(mark)
    assert (log.trimmed, log.last_seq) == (3, 4)
    assert log.since(0) == [(4, '{"n": 3}')]
    assert log.append({"n": 4}) == 5
    log.trim(mark)  # trimming to the same mark again changes nothing
    assert [seq for seq, _ in log.since(2)] == [4, 5]


def test_with_many_users_no_mcp_server_is_started(
    start_server: ServerFactory, web_settings: Settings
) -> None:
    # an MCP server runs with the rights of whoever started loci: not for every user
    settings = web_settings.replace(mcp_servers=(McpServer("absent", "loci-no-such-program"),))
    users = _users(settings)
    ana = users.add("ana")
    srv = start_server(real_kernels=False, users=users, settings=settings)
    srv.model.enqueue("Hello Ana.")
    with _client(srv.url, ana) as a:
        cid = a.post("/api/conversations", json={}).json()["id"]
        a.post(f"/api/conversations/{cid}/messages", json={"text": "hi"})
        events = read_events(a, cid)
    assert events[-1]["type"] == "turn_done"
    assert not [e for e in events if "MCP" in str(e.get("message", ""))]
