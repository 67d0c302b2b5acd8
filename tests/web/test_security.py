"""Each security rule as an attack that must fail (starlette TestClient, fake kernels)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from starlette.routing import Mount, Route
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect
from web_helpers import TOKEN, fake_pool

from loci.cli.serve_cmd import check_bind, serve
from loci.config import Settings
from loci.models.scripted import ScriptedModel
from loci.web import create_app
from loci.web.openapi import PATHS
from loci.web.security import LOOPBACK_HOSTS

AUTH = {"Authorization": f"Bearer {TOKEN}"}
SAME = "http://testserver"


def _app(settings: Settings, **kw: Any) -> TestClient:
    model = ScriptedModel()
    app = create_app(
        settings, token=TOKEN, model_factory=lambda s: model, pool_factory=fake_pool, **kw
    )
    return TestClient(app)


@pytest.fixture
def client(web_settings: Settings) -> Iterator[TestClient]:
    with _app(web_settings) as c:
        yield c


@pytest.fixture
def conv(client: TestClient) -> int:
    resp = client.post("/api/conversations", json={}, headers=AUTH)
    assert resp.status_code == 201
    cid: int = resp.json()["id"]
    return cid


@pytest.mark.parametrize(
    "path", ["/openapi.json", "/api/conversations", "/api/models", "/api/conversations/1/events"]
)
def test_every_api_path_needs_the_token(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 401
    assert client.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get(path, params={"token": "wrong"}).status_code == 401
    assert client.get(path, headers={"Authorization": "Basic " + TOKEN}).status_code == 401


def test_token_as_bearer_or_query(client: TestClient, conv: int) -> None:
    assert client.get("/openapi.json", headers=AUTH).status_code == 200
    assert client.get("/api/conversations", params={"token": TOKEN}).status_code == 200
    assert client.post(f"/api/conversations/{conv}/messages", json={"text": "x"}).status_code == 401


def test_the_ui_shell_is_public_and_has_a_strict_csp(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "app.js" in page.text
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "unsafe-inline" not in csp
    assert "<script>" not in page.text and " on" not in page.text.split("<body>")[1].split(">")[0]
    assert page.headers["x-content-type-options"] == "nosniff"
    assert client.get("/static/app.js").status_code == 200


@pytest.mark.parametrize("origin", ["http://evil.example", "null", "http://testserver.evil.com"])
def test_foreign_origin_cannot_post_or_stream(client: TestClient, conv: int, origin: str) -> None:
    hdrs = {**AUTH, "Origin": origin}
    assert client.post("/api/conversations", json={}, headers=hdrs).status_code == 403
    url = f"/api/conversations/{conv}/messages"
    assert client.post(url, json={"text": "rm -rf"}, headers=hdrs).status_code == 403
    events = client.get(f"/api/conversations/{conv}/events", params={"token": TOKEN},
                        headers={"Origin": origin})  # fmt: skip
    assert events.status_code == 403


def test_cross_site_fetch_metadata_is_refused(client: TestClient) -> None:
    hdrs = {**AUTH, "Sec-Fetch-Site": "cross-site"}
    assert client.post("/api/conversations", json={}, headers=hdrs).status_code == 403


def test_same_origin_and_no_origin_are_allowed(client: TestClient, conv: int) -> None:
    same = client.post("/api/conversations", json={}, headers={**AUTH, "Origin": SAME})
    assert same.status_code == 201
    assert client.post("/api/conversations", json={}, headers=AUTH).status_code == 201


def test_foreign_origin_websocket_is_refused(client: TestClient) -> None:
    url = f"/api/conversations/1/events?token={TOKEN}"
    evil = {"Origin": "http://evil.example"}
    with pytest.raises(WebSocketDisconnect) as info, client.websocket_connect(url, headers=evil):
        pass
    assert info.value.code == 1008
    no_token = "/api/conversations/1/events"
    with pytest.raises(WebSocketDisconnect) as info, client.websocket_connect(no_token):
        pass
    assert info.value.code == 1008


@pytest.mark.parametrize(
    "ctype", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; b=x", ""]
)
def test_simple_form_posts_are_refused(client: TestClient, conv: int, ctype: str) -> None:
    # what a cross-site <form> can send; even with the token it must not act
    hdrs = {**AUTH, "Content-Type": ctype} if ctype else AUTH
    body = b'{"text": "print(1)"}'
    resp = client.post(f"/api/conversations/{conv}/messages", content=body, headers=hdrs)
    assert resp.status_code == 415
    resp = client.post(f"/api/conversations/{conv}/interrupt", content=body, headers=hdrs)
    assert resp.status_code == 415


def test_dns_rebinding_host_is_refused(web_settings: Settings) -> None:
    with _app(web_settings, allowed_hosts=LOOPBACK_HOSTS) as c:
        assert (
            c.get("/api/models", headers={**AUTH, "Host": "evil.example:8765"}).status_code == 403
        )
        assert c.get("/api/models", headers={**AUTH, "Host": "127.0.0.1:8765"}).status_code == 200
        assert c.get("/api/models", headers={**AUTH, "Host": "localhost"}).status_code == 200


def _workspace(client: TestClient, conv: int) -> Path:
    return Path(client.get(f"/api/conversations/{conv}/files", headers=AUTH).json()["workspace"])


@pytest.mark.parametrize(
    "path",
    [
        "..%2F..%2Fhistory.db",
        "%2E%2E/%2E%2E/history.db",
        "sub/..%2F..%2Fsecret.txt",
        "%2Fetc%2Fpasswd",
        "/etc/passwd",
        "link/secret.txt",
        "filelink",
        "..%5C..%5Csecret.txt",
    ],
)
def test_downloads_cannot_escape_the_workspace(
    client: TestClient, conv: int, tmp_path: Path, path: str
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("TOPSECRET-CONTENT")
    ws = _workspace(client, conv)
    (ws / "sub").mkdir()
    (ws / "link").symlink_to(outside)
    (ws / "filelink").symlink_to(outside / "secret.txt")
    resp = client.get(f"/api/conversations/{conv}/files/{path}", headers=AUTH)
    assert resp.status_code in (403, 404), resp.text
    assert b"TOPSECRET" not in resp.content and b"root:" not in resp.content
    assert b"SQLite" not in resp.content


def test_credential_files_in_a_workspace_are_neither_listed_nor_served(
    client: TestClient, conv: int
) -> None:
    ws = _workspace(client, conv)
    (ws / ".netrc").write_text("machine x login me password TOPSECRET")
    (ws / "deploy" / ".aws").mkdir(parents=True)
    (ws / "deploy" / ".aws" / "credentials").write_text("aws_secret_access_key=TOPSECRET")
    (ws / "notes.txt").write_text("fine")
    listed = client.get(f"/api/conversations/{conv}/files", headers=AUTH).json()["files"]
    assert [f["path"] for f in listed] == ["notes.txt"]
    for path in [".netrc", "deploy/.aws/credentials"]:
        resp = client.get(f"/api/conversations/{conv}/files/{path}", headers=AUTH)
        assert resp.status_code == 403 and b"TOPSECRET" not in resp.content, path
    assert client.get(f"/api/conversations/{conv}/files/notes.txt", headers=AUTH).text == "fine"


def test_locis_own_state_in_a_workspace_is_neither_listed_served_nor_written(
    web_settings: Settings,
) -> None:
    from dataclasses import replace

    work = web_settings.workdir
    home = work / "state"  # LOCI_HOME inside the workspace (not hidden, so it would list)
    home.mkdir(parents=True)
    # `loci serve --workdir W`: every conversation works in W itself
    with _app(replace(web_settings, home=home), shared_workdir=True) as client:
        cid = client.post("/api/conversations", json={}, headers=AUTH).json()["id"]
        ws = _workspace(client, cid)
        assert ws == work
        (home / "history.db").write_bytes(b"TOPSECRET")
        (ws / "notes.txt").write_text("fine")
        listed = client.get(f"/api/conversations/{cid}/files", headers=AUTH).json()["files"]
        assert "state/history.db" not in [f["path"] for f in listed]
        assert "notes.txt" in [f["path"] for f in listed]
        got = client.get(f"/api/conversations/{cid}/files/state/history.db", headers=AUTH)
        assert got.status_code == 403 and b"TOPSECRET" not in got.content
        put = client.put(
            f"/api/conversations/{cid}/files/state/history.db", content=b"x", headers=AUTH
        )
        assert put.status_code == 403 and "own state" in put.json()["error"]
        assert (home / "history.db").read_bytes() == b"TOPSECRET"


def test_a_relative_or_linked_loci_home_is_refused_too(tmp_path: Path) -> None:
    from loci.web.files import list_files, refusal

    work = tmp_path / "proj"
    (work / "state").mkdir(parents=True)
    (work / "state" / "history.db").write_bytes(b"x")
    (tmp_path / "link").symlink_to(work / "state")
    for home in (tmp_path / "link", Path(os.path.relpath(work / "state"))):
        assert "own state" in refusal(work, "state/history.db", home), home
        assert list_files(work, home=home) == [], home


def test_uploads_cannot_escape_the_workspace(client: TestClient, conv: int, tmp_path: Path) -> None:
    outside = tmp_path / "outside2"
    outside.mkdir()
    ws = _workspace(client, conv)
    (ws / "link").symlink_to(outside)
    for path in ["..%2Fx.txt", "link/x.txt", "%2Ftmp%2Fx.txt"]:
        resp = client.put(f"/api/conversations/{conv}/files/{path}", content=b"x", headers=AUTH)
        assert resp.status_code == 403, path
    assert not list(outside.iterdir()) and not (ws.parent / "x.txt").exists()


def test_downloads_never_render_in_the_app_origin(client: TestClient, conv: int) -> None:
    ws = _workspace(client, conv)
    (ws / "page.html").write_text("<script>alert(1)</script>")
    resp = client.get(
        f"/api/conversations/{conv}/files/page.html", headers=AUTH, params={"inline": "1"}
    )
    assert resp.headers["content-type"] == "application/octet-stream"
    assert resp.headers["content-disposition"].startswith("attachment")
    assert resp.headers["content-security-policy"].startswith("sandbox")


def test_bind_elsewhere_without_token_is_refused() -> None:
    result = CliRunner().invoke(serve, ["--host", "0.0.0.0"])
    assert result.exit_code == 2
    assert "refusing to listen on 0.0.0.0 without --token" in result.output
    check_bind("127.0.0.1", None)
    check_bind("::1", None)
    check_bind("0.0.0.0", "a-long-secret")


def test_openapi_lists_every_route(client: TestClient) -> None:
    doc = client.get("/openapi.json", headers=AUTH).json()
    assert doc["paths"] == PATHS
    app = client.app
    for route in app.routes:  # type: ignore[attr-defined]
        if isinstance(route, Mount):
            continue
        assert isinstance(route, Route)
        path = route.path.replace(":int}", "}").replace(":path}", "}")
        for method in route.methods or ():
            if method != "HEAD":
                assert method.lower() in PATHS[path], (method, path)


def test_missing_extra_names_the_install_command() -> None:
    code = "import sys; sys.modules['starlette'] = None\nimport loci.web"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ)
    )
    assert out.returncode != 0
    assert "MissingExtraError" in out.stderr and "pip install 'loci[web]'" in out.stderr
