"""loci as an ACP agent: each ACP session is a loci conversation (a ``Session``, its kernels
in the session's cwd), its id the conversation's id.

    initialize            capabilities: load and list sessions, embedded context in prompts
    session/new           a new conversation working in cwd (too broad a cwd, such as the home
                          folder, gives ~/loci-workspace, as for ``loci``; the first reply says so)
    session/load          a stored conversation, replayed as updates, then continued
    session/list          stored conversations, newest first (those of cwd when given)
    session/prompt        one request (``turn.PromptTurn``)
    session/cancel        interrupt the model or the code
    session/set_mode      ask (approve each block) or auto (run without asking; risky code
                          still asks); also the config option ``mode``
    set_config_option     ``model``: the session's model, from the ``-m`` default, the
                          ``--offer`` specs and the embedded catalog

The SDK (0.12) has no ``session/set_model``: a model is chosen per session through a config
option of category ``model``. So loci offers the model and the approval setting as config
options, and the approval setting as modes too, for clients that show only modes.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from acp import PROTOCOL_VERSION
from acp.helpers import update_current_mode
from acp.interfaces import Client
from acp.schema import (
    AgentCapabilities,
    ConfigOptionUpdate,
    Implementation,
    InitializeResponse,
    ListSessionsResponse,
    LoadSessionResponse,
    McpCapabilities,
    NewSessionResponse,
    PromptCapabilities,
    PromptResponse,
    SessionCapabilities,
    SessionConfigOptionBoolean,
    SessionConfigOptionSelect,
    SessionConfigSelectOption,
    SessionInfo,
    SessionInfoUpdate,
    SessionListCapabilities,
    SessionMode,
    SessionModeState,
    SetSessionConfigOptionResponse,
    SetSessionModeResponse,
)

from ..config import Settings, working_in
from ..errors import ConfigError, NotFoundError, TurnRunningError
from ..models.base import Model, close_model
from ..sandbox import Sandbox
from ..session import Session
from ..store import ConversationRecord, ConversationSummary, Store, title_of
from .errors import acp_errors
from .servers import from_editor, with_servers
from .translate import Prompt, prompt_text, quoted, replay
from .turn import AcpApprover, PromptTurn

ModelFactory = Callable[[Settings], Model]
ConfigOption = SessionConfigOptionSelect | SessionConfigOptionBoolean
MODES = (
    SessionMode(id="ask", name="Ask", description="Ask before running each code block"),
    SessionMode(
        id="auto", name="Auto-run", description="Run code without asking (risky code still asks)"
    ),
)
LISTED = 200  # conversations session/list returns
CLOSE_WAIT_S = 10.0  # how long closing waits for a running turn to stop


@dataclass
class Conversation:
    """An open ACP session: the loci session and what a prompt needs beside it."""

    id: str
    session: Session
    approver: AcpApprover
    spec: str  # the model spec in use
    note: str = ""  # said before the first reply (where loci works, what is not enforced)
    cancelled: asyncio.Event = field(default_factory=asyncio.Event)
    turn: PromptTurn | None = None

    @property
    def mode(self) -> str:
        return "auto" if self.session.auto_run else "ask"


class LociAgent:
    """The ACP agent. ``models`` builds a session's model (default: one per session, the
    embedded ones loaded once and shared); ``offered``: more specs for the model menu."""

    def __init__(
        self,
        settings: Settings,
        *,
        offered: Sequence[str] = (),
        models: ModelFactory | None = None,
        close_models: Callable[[], None] | None = None,
    ) -> None:
        if models is None:
            from ..models.shared import DefaultModels

            shared = DefaultModels()
            models, close_models = shared, shared.close
        self.settings = settings
        self.models = models
        self._close_models = close_models
        self.offered = list(dict.fromkeys([settings.model, *offered, *_suggested()]))
        self.conversations: dict[str, Conversation] = {}
        self._conn: Client | None = None

    def on_connect(self, conn: Client) -> None:
        self._conn = conn

    @property
    def conn(self) -> Client:
        assert self._conn is not None, "the agent is not connected"
        return self._conn

    # -- start --------------------------------------------------------------------------------
    async def initialize(self, protocol_version: int, **kwargs: Any) -> InitializeResponse:
        return InitializeResponse(
            protocol_version=min(protocol_version, PROTOCOL_VERSION),
            agent_capabilities=AgentCapabilities(
                load_session=True,
                prompt_capabilities=PromptCapabilities(embedded_context=True, image=True),
                session_capabilities=SessionCapabilities(list=SessionListCapabilities()),
                mcp_capabilities=McpCapabilities(http=True),
            ),
            agent_info=Implementation(name="loci", title="loci", version=_version()),
        )

    async def new_session(
        self, cwd: str, mcp_servers: list[Any] | None = None, **kwargs: Any
    ) -> NewSessionResponse:
        with acp_errors():
            conv = await asyncio.to_thread(self._open, cwd, None, mcp_servers)
        self.conversations[conv.id] = conv
        return NewSessionResponse(
            session_id=conv.id, modes=self._modes(conv), config_options=self._options(conv)
        )

    async def load_session(
        self, cwd: str, session_id: str, mcp_servers: list[Any] | None = None, **kwargs: Any
    ) -> LoadSessionResponse:
        with acp_errors():
            record = await asyncio.to_thread(self._record, session_id)
            conv = self.conversations.get(session_id)
            if conv is None:
                conv = await asyncio.to_thread(self._open, cwd, record.id, mcp_servers)
                self.conversations[conv.id] = conv
        for update in replay(record):
            await self.conn.session_update(session_id, update)
        return LoadSessionResponse(modes=self._modes(conv), config_options=self._options(conv))

    async def list_sessions(
        self, cwd: str | None = None, cursor: str | None = None, **kwargs: Any
    ) -> ListSessionsResponse:
        with acp_errors():
            workdir = str(working_in(self.settings, _folder(cwd)).workdir) if cwd else None
            rows = await asyncio.to_thread(self._list)
        return ListSessionsResponse(
            sessions=[
                SessionInfo(
                    session_id=str(r.id),
                    cwd=r.workdir,
                    title=r.title or None,
                    updated_at=_iso(r.updated),
                )
                for r in rows
                if workdir is None or r.workdir == workdir
            ]
        )

    # -- a prompt -----------------------------------------------------------------------------
    async def prompt(self, prompt: Prompt, session_id: str, **kwargs: Any) -> PromptResponse:
        with acp_errors():
            conv = self._get(session_id)
            if conv.turn is not None:
                raise TurnRunningError("a request is already running in this session")
            text = prompt_text(prompt, conv.session.settings.workdir)
            if not text.strip():
                raise ConfigError("the prompt is empty")
            conv.cancelled.clear()
            conv.turn = PromptTurn(
                self.conn,
                session_id,
                conv.session,
                conv.approver,
                conv.cancelled,
                lambda: self._modes_changed(conv),
            )
            try:
                await self._before_first(conv, text)
                stop = await conv.turn.run(text)
            finally:
                conv.turn = None
        return PromptResponse(stop_reason=stop)

    async def cancel(self, session_id: str, **kwargs: Any) -> None:
        conv = self.conversations.get(session_id)
        if conv is not None and conv.turn is not None:
            conv.cancelled.set()
            conv.session.interrupt()

    async def _before_first(self, conv: Conversation, text: str) -> None:
        """Before a conversation's first request: its title, and the start-up note."""
        if not conv.session.messages:
            title = title_of(text)
            update = SessionInfoUpdate(session_update="session_info_update", title=title)
            await self.conn.session_update(conv.id, update)
        if conv.note:
            note, conv.note = conv.note, ""
            await self.conn.session_update(conv.id, quoted(note))

    # -- modes and options --------------------------------------------------------------------
    async def set_session_mode(
        self, mode_id: str, session_id: str, **kwargs: Any
    ) -> SetSessionModeResponse:
        with acp_errors():
            self._set_mode(self._get(session_id), mode_id)
        return SetSessionModeResponse()

    async def set_config_option(
        self, config_id: str, session_id: str, value: str | bool, **kwargs: Any
    ) -> SetSessionConfigOptionResponse:
        with acp_errors():
            conv = self._get(session_id)
            if config_id == "mode":
                self._set_mode(conv, str(value))
            elif config_id == "model":
                await self._switch_model(conv, str(value))
            else:
                raise ConfigError(f"no option {config_id!r}: loci has 'model' and 'mode'")
        return SetSessionConfigOptionResponse(config_options=self._options(conv))

    def _set_mode(self, conv: Conversation, mode_id: str) -> None:
        if mode_id not in ("ask", "auto"):
            raise ConfigError(f"no mode {mode_id!r}: loci has 'ask' and 'auto'")
        conv.session.auto_run = mode_id == "auto"

    async def _switch_model(self, conv: Conversation, spec: str) -> None:
        if conv.turn is not None:
            raise TurnRunningError("wait for the running request to end before switching models")
        settings = conv.session.settings.replace(model=spec.strip())
        model = await asyncio.to_thread(self.models, settings)
        conv.session.switch_model(model)
        conv.session.settings = settings
        conv.session.store.set_model(int(conv.id), model.name)
        conv.spec = settings.model
        if conv.spec not in self.offered:
            self.offered.append(conv.spec)

    async def _modes_changed(self, conv: Conversation) -> None:
        """Say the mode is now auto-run (the person answered "always")."""
        await self.conn.session_update(conv.id, update_current_mode("auto"))
        options = self._options(conv, mode="auto")  # the session turns it on once told
        update = ConfigOptionUpdate(session_update="config_option_update", config_options=options)
        await self.conn.session_update(conv.id, update)

    def _modes(self, conv: Conversation) -> SessionModeState:
        return SessionModeState(current_mode_id=conv.mode, available_modes=list(MODES))

    def _options(self, conv: Conversation, mode: str = "") -> list[ConfigOption]:
        models = [SessionConfigSelectOption(value=spec, name=spec) for spec in self.offered]
        modes = [SessionConfigSelectOption(value=m.id, name=m.name) for m in MODES]
        return [
            SessionConfigOptionSelect(
                id="model", name="Model", category="model", type="select",
                current_value=conv.spec, options=models,
            ),
            SessionConfigOptionSelect(
                id="mode", name="Approval", category="mode", type="select",
                current_value=mode or conv.mode, options=modes,
            ),
        ]  # fmt: skip

    # -- conversations ------------------------------------------------------------------------
    def _get(self, session_id: str) -> Conversation:
        conv = self.conversations.get(session_id)
        if conv is None:
            raise NotFoundError(f"no open session {session_id!r}: load it first")
        return conv

    def _open(
        self, cwd: str, conversation_id: int | None, mcp_servers: list[Any] | None = None
    ) -> Conversation:
        """A Session working in ``cwd`` with the editor's MCP servers besides config.toml's
        (blocking: it loads the model, starts a kernel)."""
        servers, left_out = from_editor(mcp_servers)
        settings = with_servers(working_in(self.settings, _folder(cwd)), servers)
        model = self.models(settings)
        approver = AcpApprover()
        try:
            session = Session(
                settings, model=model, approver=approver, conversation_id=conversation_id
            )
        except BaseException:
            close_model(model)
            raise
        conv = Conversation(str(session.conversation_id), session, approver, settings.model)
        conv.note = "\n> ".join(filter(None, [_start_note(settings), *left_out]))
        return conv

    def _record(self, session_id: str) -> ConversationRecord:
        if not session_id.isdigit():
            raise NotFoundError(f"no conversation {session_id!r}")
        with Store(self.settings.db_path) as store:
            return store.get_conversation(int(session_id))

    def _list(self) -> list[ConversationSummary]:
        with Store(self.settings.db_path) as store:
            return store.list_conversations(limit=LISTED)

    def close(self) -> None:
        """Stop every running turn, then shut every session's kernels down."""
        conversations, self.conversations = list(self.conversations.values()), {}
        for conv in conversations:
            conv.session.interrupt()
        for conv in conversations:
            worker = conv.turn.worker if conv.turn is not None else None
            if isinstance(worker, threading.Thread):
                worker.join(CLOSE_WAIT_S)
            with contextlib.suppress(Exception):  # one that fails must not keep the others
                conv.session.close()
        if self._close_models is not None:
            self._close_models()


def _folder(cwd: str) -> Path:
    path = Path(cwd)
    if not path.is_absolute():
        raise ConfigError(f"cwd must be an absolute path, got {cwd!r}")
    if not path.is_dir():
        raise ConfigError(f"cwd {cwd} is not a folder")
    return path


def _start_note(settings: Settings) -> str:
    notes = []
    if settings.started_in is not None:
        notes.append(
            f"code works in {settings.workdir}: "
            f"{settings.started_in} is too broad to be writable, so code may read it "
            "(credential stores hidden) but not write there. Open a project folder instead."
        )
    if settings.kernel_gateway:
        notes.append(f"code runs on the kernel gateway {settings.kernel_gateway}")
    elif (warning := Sandbox.from_settings(settings).warning()) is not None:
        notes.append("⚠ " + warning)
    return "\n> ".join(notes)


def _suggested() -> list[str]:
    from ..models.registry import PROVIDERS

    return [spec for p in PROVIDERS.values() for spec in p.suggestions()]


def _iso(ts: float | str) -> str:
    if isinstance(ts, str):
        return ts
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat()


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("loci")
    except PackageNotFoundError:  # pragma: no cover - a source tree without metadata
        return "0"
