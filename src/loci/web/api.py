"""The HTTP API's endpoints. Each one is small: it checks its input and calls the Hub.

Errors are ``ApiError`` (or another ``LociError``, each with its ``http_status``) and become
``{"error": "..."}`` JSON. JSON endpoints refuse any other Content-Type (a simple cross-site
form can only send form encodings or text/plain).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from ..approval import code_hash
from ..config import Settings
from ..errors import ApiError, LociError, NotFoundError, PathRefused
from ..events import Notice, to_dict
from ..store import Store
from ..store.users import User, Users
from .eventlog import EventLog
from .files import download_response, list_files, new_workspace, save_upload
from .live import Action, Hub, LiveConversation

KEEPALIVE_S = 15.0
TRIMMED_NOTE = "this conversation was closed while you were away; reload the page to see all of it"


@dataclass
class WebState:
    """What the endpoints share: settings, the store, the live conversations."""

    settings: Settings
    store: Store
    hub: Hub
    shared_workdir: bool
    workspace_root: Path
    workspaces: dict[int, Path] = field(default_factory=dict)
    users: Users | None = None  # multi-user mode: conversations and files are per user

    def log(self, conv_id: int) -> EventLog:
        return self.hub.log(conv_id)


def _state(request: Request) -> WebState:
    state: WebState = request.app.state.web
    return state


def _user(request: Request) -> User | None:
    """The user making the request in multi-user mode; None on a single-token server."""
    if _state(request).users is None:
        return None
    user: User = request.scope["loci.user"]
    return user


def _conv_id(request: Request) -> int:
    """The conversation in the path, which must be the requesting user's (else 404: another
    user's conversations do not exist as far as this one can tell)."""
    conv_id: int = request.path_params["conv_id"]
    state = _state(request)
    user = _user(request)
    # asked of the database every time (an indexed lookup): no cache to go stale when a
    # user is removed and their conversations lose their owner
    if user is not None and state.users is not None and state.users.owner(conv_id) != user.id:
        raise NotFoundError(f"no conversation with id {conv_id}")
    return conv_id


async def read_json(request: Request) -> dict[str, Any]:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/json":
        raise ApiError(415, "send a JSON body with Content-Type: application/json")
    try:
        data = await request.json()
    except ValueError as exc:
        raise ApiError(400, f"the body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ApiError(400, "the body must be a JSON object")
    return data


def _field(data: dict[str, Any], name: str, kind: type, *, required: bool = False) -> Any:
    value = data.get(name)
    if value is None:
        if required:
            raise ApiError(400, f"{name!r} is required")
        return None
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise ApiError(400, f"{name!r} must be a {kind.__name__}")
    return value


def _text(data: dict[str, Any]) -> str:
    """The request's ``text``, stripped: required, and not blank."""
    text = str(_field(data, "text", str, required=True)).strip()
    if not text:
        raise ApiError(400, "'text' is empty")
    return text


def workspace_of(state: WebState, conv_id: int) -> Path:
    """Where conversation ``conv_id`` keeps its files (NotFoundError if it does not exist)."""
    known = state.workspaces.get(conv_id)
    if known is None:
        record = state.store.get_conversation(conv_id)
        known = state.workspaces[conv_id] = Path(record.summary.workdir)
    return known


def _live(state: WebState, conv_id: int) -> LiveConversation:
    live = state.hub.get(conv_id)
    if live is None:
        state.store.get_conversation(conv_id)  # 404 for an unknown id
        raise ApiError(409, "nothing is running in this conversation")
    return live


async def _open(request: Request, conv_id: int) -> LiveConversation:
    state = _state(request)
    workspace = workspace_of(state, conv_id)
    return await run_in_threadpool(state.hub.open, conv_id, workspace, _user(request))


# -- conversations ------------------------------------------------------------------------


async def list_conversations(request: Request) -> JSONResponse:
    state = _state(request)
    limit = min(max(int(request.query_params.get("limit", "50") or 50), 1), 500)
    user = _user(request)
    rows = await run_in_threadpool(
        lambda: state.store.list_conversations(limit, user_id=None if user is None else user.id)
    )
    out = []
    for row in rows:
        live = state.hub.get(row.id)
        out.append({**row.to_dict(), "running": bool(live and live.running)})
    return JSONResponse(out)


async def create_conversation(request: Request) -> JSONResponse:
    state = _state(request)
    data = await read_json(request)
    model = _field(data, "model", str)
    auto_run = _field(data, "auto_run", bool)
    user = _user(request)
    if state.shared_workdir:
        workspace = state.settings.workdir
    else:
        root = state.workspace_root if user is None else state.workspace_root / user.name
        workspace = new_workspace(root)
    live = await run_in_threadpool(
        lambda: state.hub.create(workspace, model=model, auto_run=auto_run, user=user)
    )
    state.workspaces[live.id] = workspace
    return JSONResponse(_live_info(live, state), status_code=201)


def _live_info(live: LiveConversation | None, state: WebState, conv_id: int = 0) -> dict[str, Any]:
    if live is None:
        return {
            "id": conv_id,
            "running": False,
            "after": state.log(conv_id).last_seq,
            "auto_run": state.settings.auto_run,
            "waiting": [],
            "model": None,
        }
    running = live.running
    return {
        "id": live.id,
        "running": running,
        "after": live.turn_after if running else live.log.last_seq,
        "auto_run": live.session.auto_run,
        "waiting": live.approver.waiting(),
        "waiting_input": live.reads.waiting(),
        "model": live.session.model.name,
    }


async def get_conversation(request: Request) -> JSONResponse:
    state = _state(request)
    conv_id = _conv_id(request)
    record = (await run_in_threadpool(state.store.get_conversation, conv_id)).to_dict()
    live = state.hub.get(conv_id)
    info = _live_info(live, state, conv_id)
    if live is not None and info["running"]:
        # the running turn is replayed from the event log (``after``), not from the store
        cut = live.turn_started
        record["items"] = [
            i for i in record["items"] if float(i.get("created", i.get("started", 0))) < cut
        ]
    record["live"] = info
    return JSONResponse(record)


async def send_message(request: Request) -> JSONResponse:
    data = await read_json(request)
    text = _text(data)
    state = _state(request)
    conv_id = _conv_id(request)
    workspace = workspace_of(state, conv_id)
    live, after = await run_in_threadpool(
        state.hub.send, conv_id, workspace, text, user=_user(request)
    )
    return JSONResponse({"id": live.id, "after": after}, status_code=202)


async def branch(request: Request) -> JSONResponse:
    """Edit request ``request`` and go on in a new conversation (``Store.branch``; this one
    stays), in the same workspace, with fresh kernels: the model is told, as on resume."""
    data = await read_json(request)
    number = _field(data, "request", int, required=True)
    text = _text(data)
    state = _state(request)
    conv_id = _conv_id(request)
    workspace = workspace_of(state, conv_id)
    new_id = await run_in_threadpool(state.store.branch, conv_id, number)  # owner copied too
    state.workspaces[new_id] = workspace
    try:
        live, after = await run_in_threadpool(
            state.hub.send, new_id, workspace, text, user=_user(request)
        )
    except LociError:  # e.g. no room for more kernels: no half-made branch is left behind
        await run_in_threadpool(state.store.delete_conversation, new_id)
        raise
    info = {**_live_info(live, state), "after": after, "parent_id": conv_id}
    return JSONResponse({**info, "branched_at_request": number}, status_code=201)


async def update_settings(request: Request) -> JSONResponse:
    state = _state(request)
    data = await read_json(request)
    auto_run = _field(data, "auto_run", bool)
    model = _field(data, "model", str)
    live = await _open(request, _conv_id(request))
    if model:
        await run_in_threadpool(state.hub.set_model, live, model.strip())
    if auto_run is not None:
        live.session.auto_run = auto_run
    return JSONResponse(_live_info(live, state))


async def approve(request: Request) -> JSONResponse:
    state = _state(request)
    data = await read_json(request)
    block_id = _field(data, "block_id", str, required=True)
    sha256 = _field(data, "sha256", str, required=True)
    action = _field(data, "action", str) or "run"
    code = _field(data, "code", str)
    actions: dict[str, Action] = {"run": "run", "skip": "skip", "always": "always"}
    if action not in actions:
        raise ApiError(400, "'action' must be run, skip or always")
    live = _live(state, _conv_id(request))
    decision = live.approver.answer(block_id, sha256, actions[action], code)
    return JSONResponse(
        {
            "block_id": block_id,
            "approved": decision.approved,
            "code": decision.code,
            "sha256": code_hash(decision.code),
        }
    )


async def send_input(request: Request) -> JSONResponse:
    """Answer the running code's ``input()`` (``text`` null: end-of-file)."""
    state = _state(request)
    data = await read_json(request)
    execution_id = _field(data, "execution_id", int, required=True)
    text = _field(data, "text", str)
    live = _live(state, _conv_id(request))
    asked = live.reads.answer(execution_id, text)
    return JSONResponse({"execution_id": execution_id, "prompt": asked.prompt})


async def interrupt(request: Request) -> JSONResponse:
    state = _state(request)
    await read_json(request)
    conv_id = _conv_id(request)
    live = state.hub.get(conv_id)
    if live is None:
        state.store.get_conversation(conv_id)
        return JSONResponse({"id": conv_id, "running": False})
    live.interrupt()
    return JSONResponse({"id": conv_id, "running": live.running})


async def kernel_state(request: Request) -> JSONResponse:
    """What the conversation's Python kernel holds after its last block (``loci.kernel_state``);
    ``state`` is null before one ran, or when the conversation has no live kernels."""
    state = _state(request)
    conv_id = _conv_id(request)
    live = state.hub.get(conv_id)
    if live is None:
        state.store.get_conversation(conv_id)  # 404 for an unknown id
    held = live.session.kernels.state if live is not None else None
    return JSONResponse(
        {
            "id": conv_id,
            "state": held.to_json() if held else None,
            "listing": held.listing() if held else None,
            "summary": held.summary() if held else "",
        }
    )


# -- the event stream ---------------------------------------------------------------------


async def events(request: Request) -> StreamingResponse:
    """SSE: every event after ``after`` (or Last-Event-ID), then live ones."""
    state = _state(request)
    conv_id = _conv_id(request)
    await run_in_threadpool(state.store.get_conversation, conv_id)  # 404 for an unknown id
    # a reconnecting EventSource sends Last-Event-ID with its first URL: that one wins
    raw = request.headers.get("last-event-id") or request.query_params.get("after") or "0"
    if not raw.isdigit():
        raise ApiError(400, "'after' must be an event number")
    until_idle = request.query_params.get("until") == "idle"
    log = state.log(conv_id)

    def running() -> bool:
        live = state.hub.get(conv_id)
        return bool(live and live.running)

    return StreamingResponse(
        _sse(log, int(raw), running if until_idle else None),
        media_type="text/event-stream",
        headers={"X-Accel-Buffering": "no"},
    )


async def _sse(log: EventLog, after: int, running: Callable[[], bool] | None) -> AsyncIterator[str]:
    yield "retry: 1000\n\n"
    if after < log.trimmed:  # a client back after its conversation was closed for being idle
        # numbered: the browser skips events at or below the last one it saw
        note = json.dumps(to_dict(Notice("info", TRIMMED_NOTE)))
        yield f"id: {log.trimmed}\ndata: {note}\n\n"
        after = log.trimmed
    while True:
        idle = running is not None and not running()
        for seq, data in log.since(after):
            yield f"id: {seq}\ndata: {data}\n\n"
            after = seq
        if idle:
            return
        before = log.last_seq
        await log.wait(after, KEEPALIVE_S)
        if log.last_seq == before and (running is None or running()):
            yield ": keep-alive\n\n"


# -- files --------------------------------------------------------------------------------


async def files_list(request: Request) -> JSONResponse:
    state = _state(request)
    workspace = workspace_of(state, _conv_id(request))
    files = await run_in_threadpool(list_files, workspace, home=state.settings.home)
    return JSONResponse({"workspace": str(workspace), "files": files})


async def file_upload(request: Request) -> JSONResponse:
    state = _state(request)
    workspace = workspace_of(state, _conv_id(request))
    entry = await save_upload(
        workspace, request.path_params["path"], request.stream(), state.settings.home
    )
    return JSONResponse(entry, status_code=201)


async def file_download(request: Request) -> Response:
    state = _state(request)
    workspace = workspace_of(state, _conv_id(request))
    inline = request.query_params.get("inline") == "1"
    # opened without following any symlink: the user's code may swap one in at any time
    return await run_in_threadpool(
        download_response,
        workspace,
        request.path_params["path"],
        inline=inline,
        home=state.settings.home,
    )


__all__ = ["ApiError", "PathRefused", "WebState", "read_json"]
