"""``create_app``: the ASGI app for ``loci serve`` (an app factory, no global app).

    app = create_app(settings, token="...")      # uvicorn.run(app, host="127.0.0.1")

Routes are listed in ``ROUTES`` and documented in ``openapi.py``; the ``Guard`` middleware
checks the token, Host and Origin before any of them runs. On shutdown every running request
is stopped and every kernel shut down.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..config import Settings, load_settings
from ..errors import LociError
from ..store import Store
from ..store.users import Users
from . import api
from .live import Hub, ModelFactory, PoolFactory
from .models import DefaultModels, model_list
from .openapi import schema
from .security import Guard

STATIC = Path(__file__).parent / "static"
_C = "/api/conversations/{conv_id:int}"


async def index(request: Request) -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type="text/html")


async def openapi(request: Request) -> JSONResponse:
    return JSONResponse(schema())


async def models(request: Request) -> JSONResponse:
    return JSONResponse(model_list(request.app.state.web.settings))


async def defaults(request: Request) -> JSONResponse:
    """What a new conversation gets when its request does not say (``loci serve -y``: auto-run)."""
    settings = request.app.state.web.settings
    return JSONResponse({"model": settings.model, "auto_run": settings.auto_run})


async def favicon(request: Request) -> Response:
    return Response(status_code=204)


ROUTES = [
    Route("/", index),
    Route("/favicon.ico", favicon),
    Route("/openapi.json", openapi),
    Route("/api/models", models),
    Route("/api/defaults", defaults),
    Route("/api/conversations", api.list_conversations, methods=["GET"]),
    Route("/api/conversations", api.create_conversation, methods=["POST"]),
    Route(_C, api.get_conversation),
    Route(_C + "/messages", api.send_message, methods=["POST"]),
    Route(_C + "/branch", api.branch, methods=["POST"]),
    Route(_C + "/events", api.events),
    Route(_C + "/approvals", api.approve, methods=["POST"]),
    Route(_C + "/input", api.send_input, methods=["POST"]),
    Route(_C + "/interrupt", api.interrupt, methods=["POST"]),
    Route(_C + "/settings", api.update_settings, methods=["POST"]),
    Route(_C + "/state", api.kernel_state),
    Route(_C + "/files", api.files_list),
    Route(_C + "/files/{path:path}", api.file_download, methods=["GET"]),
    Route(_C + "/files/{path:path}", api.file_upload, methods=["PUT"]),
]


async def _error(request: Request, exc: Exception) -> Response:
    """Any LociError: ``{"error": message}`` with the status its class (or ApiError) carries."""
    assert isinstance(exc, LociError)
    return JSONResponse({"error": exc.message}, status_code=exc.http_status)


def create_app(
    settings: Settings | None = None,
    *,
    token: str = "",
    model_factory: ModelFactory | None = None,
    pool_factory: PoolFactory | None = None,
    shared_workdir: bool = False,
    workspace_root: Path | None = None,
    allowed_hosts: Iterable[str] | None = None,
    users: Users | None = None,
    max_kernels: int | None = None,
    idle_timeout: float = 0.0,
) -> Starlette:
    """The web app. ``token`` guards every API call; with ``users`` (multi-user mode) each
    user's own token does instead, and each user sees only their own conversations and files.

    ``model_factory(settings)`` makes a conversation's model (default: ``get_model``, with
    embedded models shared); ``pool_factory(settings, workspace)`` its kernels (tests pass fakes).
    Each new conversation works in its own folder under ``workspace_root`` (default
    ``LOCI_HOME/workspaces``) unless ``shared_workdir``, when all use ``settings.workdir``.
    ``allowed_hosts`` (e.g. the loopback names) restricts the Host header; None: any.
    ``max_kernels`` caps the live conversations (each with its kernels) per user, and
    ``idle_timeout`` (seconds, 0: never) shuts down the kernels of idle conversations.
    """
    if not token and users is None:
        raise ValueError("create_app needs a non-empty token, or users")
    if users is not None and shared_workdir:
        raise ValueError("users cannot share one working folder")
    settings = settings or load_settings()
    hub = Hub(
        settings,
        model_factory=model_factory or DefaultModels(),
        pool_factory=pool_factory,
        users=users,
        max_kernels=max_kernels,
        idle_timeout=idle_timeout,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await run_in_threadpool(hub.close)

    app = Starlette(
        routes=[*ROUTES, Mount("/static", StaticFiles(directory=STATIC), name="static")],
        middleware=[Middleware(Guard, token=token, allowed_hosts=allowed_hosts, users=users)],
        exception_handlers={LociError: _error},
        lifespan=lifespan,
    )
    app.state.web = api.WebState(
        settings=settings,
        store=Store(settings.db_path),
        hub=hub,
        shared_workdir=shared_workdir,
        workspace_root=workspace_root or settings.home / "workspaces",
        users=users,
    )
    app.state.token = token
    return app
