"""Between ACP and loci, both ways, as pure functions: a prompt's content blocks become the
request's text (an attached image is saved in the workspace and named); loci's events (live)
and stored records (a loaded session) become session updates.

    TextDelta                 agent_message_chunk
    CodeBlock                 tool_call (kind execute, pending; the code as content)
    Approval (refused)        tool_call_update failed, with the reason
    ExecutionStart            tool_call_update in_progress
    Output                    tool_call_update: the outputs so far (text fenced, images)
    ExecutionDone             tool_call_update completed (ok) or failed, with the status
    Notice, Grounding         agent_message_chunk, quoted ("> loci: …")
    Vote                      quoted; the kept answer again if another came after it

``TurnUpdates`` keeps what one prompt's tool calls have shown so far: ACP replaces a tool
call's content with each update, so each one carries all of it. ``replay`` does the same for
a stored conversation: the person's requests, the model's replies and one finished tool call
per execution.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlparse

from acp import (
    image_block,
    start_tool_call,
    text_block,
    tool_content,
    update_agent_message_text,
    update_tool_call,
    update_user_message_text,
)
from acp.schema import (
    AgentMessageChunk,
    ContentToolCallContent,
    EmbeddedResourceContentBlock,
    FileEditToolCallContent,
    ImageContentBlock,
    ResourceContentBlock,
    TerminalToolCallContent,
    TextContentBlock,
    TextResourceContents,
    ToolCallProgress,
    ToolCallStart,
    ToolCallUpdate,
    UserMessageChunk,
)

from ..context import clip, trim_text
from ..errors import LociError
from ..events import (
    Approval,
    CodeBlock,
    Event,
    ExecStatus,
    ExecutionDone,
    ExecutionStart,
    Grounding,
    ModelDone,
    Notice,
    Output,
    TextDelta,
    TurnDone,
    Vote,
)
from ..grounding import unbacked_warning
from ..prompts import request_of
from ..sanitize import clean
from ..store.records import ConversationRecord, ExecutionRecord, MessageRecord
from ..workspace_paths import write_new

SHOWN_CHARS = 20_000  # of a tool call's text output; the store keeps all of it
TITLE_CHARS = 60

Update = AgentMessageChunk | UserMessageChunk | ToolCallStart | ToolCallProgress
ToolContent = ContentToolCallContent | FileEditToolCallContent | TerminalToolCallContent
ToolEvent = Approval | ExecutionStart | Output | ExecutionDone
UPLOADS = "loci_uploads"  # where attached images are saved, in the workspace
IMAGE_TYPES = {"image/png": "png", "image/jpeg": "jpg", "image/gif": "gif", "image/webp": "webp"}
MAX_IMAGE_BYTES = 20 * 1024 * 1024
Prompt = Sequence[Any]  # ACP content blocks; those loci cannot use are described in words


# -- the prompt ---------------------------------------------------------------------------------


def prompt_text(blocks: Prompt, workdir: Path) -> str:
    """The request the blocks make: text as it is, a linked file by its path (relative to
    ``workdir`` when inside it, so loci previews it), an embedded file with its text."""
    parts = [_block_text(block, workdir) for block in blocks]
    return "\n".join(part for part in parts if part)


def _block_text(block: Any, workdir: Path) -> str:
    if isinstance(block, TextContentBlock):
        return block.text
    if isinstance(block, ResourceContentBlock):
        return _path_of(block.uri, workdir)
    if isinstance(block, EmbeddedResourceContentBlock):
        resource = block.resource
        where = _path_of(resource.uri, workdir)
        if isinstance(resource, TextResourceContents):
            return f"{where}:\n{fenced(resource.text)}"
        return f"({where}: binary content, not included)"
    if isinstance(block, ImageContentBlock):
        return _saved_image(block, workdir)
    return f"(an attachment of type {getattr(block, 'type', '?')} was left out)"


def _saved_image(block: ImageContentBlock, workdir: Path) -> str:
    """An attached image, saved in the workspace and named, so the request shows it to a
    model that sees (``loci.intake``) and gives the others, and the code, its path."""
    ext = IMAGE_TYPES.get((block.mime_type or "").lower())
    if ext is None:
        return "(an attached image was left out: not a PNG, JPEG, GIF or WebP)"
    data = block.data or ""
    raw = b""
    if len(data) <= MAX_IMAGE_BYTES * 4 // 3 + 4:  # checked before decoding it
        with contextlib.suppress(binascii.Error, ValueError):
            raw = base64.b64decode(data, validate=True)
    if not raw or len(raw) > MAX_IMAGE_BYTES:
        return "(an attached image was left out: empty, broken or over 20 MB)"
    name = f"{UPLOADS}/image-{hashlib.sha256(raw).hexdigest()[:12]}.{ext}"
    try:
        write_new(workdir, name, raw)  # False: the same picture is there already
    except (LociError, OSError) as exc:
        why = exc.message if isinstance(exc, LociError) else exc.strerror or str(exc)
        return f"(an attached image was left out: it could not be saved: {why})"
    return f"(attached image: {name})"


def _path_of(uri: str, workdir: Path) -> str:
    parsed = urlparse(uri)
    if parsed.scheme != "file":
        return uri
    path = Path(unquote(parsed.path))
    return str(path.relative_to(workdir)) if path.is_relative_to(workdir) else str(path)


# -- text ---------------------------------------------------------------------------------------


def fenced(text: str, language: str = "") -> str:
    """``text`` as a Markdown code block, with a fence longer than any backtick run in it."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{language}\n{text.rstrip(chr(10))}\n{fence}"


def quoted(text: str) -> AgentMessageChunk:
    """One of loci's own lines, set apart from the model's words."""
    return update_agent_message_text(f"\n\n> loci: {text}\n\n")


def notice_update(notice: Notice) -> AgentMessageChunk:
    return quoted(("⚠ " if notice.level != "info" else "") + notice.message)


# -- tool calls ---------------------------------------------------------------------------------

Status = Literal["pending", "in_progress", "completed", "failed"]


@dataclass
class ToolCallView:
    """What one code block's tool call shows: its code, then its outputs and how it ended."""

    id: str
    language: str
    code: str
    outputs: list[Output] = field(default_factory=list)
    done: ExecutionDone | None = None
    refused: str = ""  # why it did not run
    started: bool = False

    @property
    def title(self) -> str:
        first = next((line.strip() for line in self.code.splitlines() if line.strip()), "")
        first = clip(first, TITLE_CHARS)
        return f"{self.language}: {first}" if first else self.language

    @property
    def status(self) -> Status:
        if self.refused or (self.done is not None and self.done.status != "ok"):
            return "failed"
        if self.done is not None:
            return "completed"
        return "in_progress" if self.started else "pending"

    def content(self, warning: str = "") -> list[ToolContent]:
        shown: list[ToolContent] = [tool_content(text_block(fenced(self.code, self.language)))]
        if warning:
            shown.append(tool_content(text_block(warning)))
        shown += _outputs_content(self.outputs, self.done)
        if self.refused:
            shown.append(tool_content(text_block(f"not run: {self.refused}")))
        elif self.done is not None and (line := status_line(self.done)):
            shown.append(tool_content(text_block(line)))
        return shown

    def raw_output(self) -> str | None:
        """What the run printed, as plain text, then how it ended: for clients that show a
        tool call's raw output rather than its content (Jupyter AI's chat)."""
        if self.refused:
            return f"not run: {self.refused}"
        if self.done is None and not self.outputs:
            return None
        where = f"execution #{self.done.execution_id}" if self.done is not None else ""
        text = "".join(_output_text(o) for o in self.outputs).rstrip("\n")
        text = trim_text(clean(text, colour=False), SHOWN_CHARS, where=where)
        line = status_line(self.done) if self.done is not None else ""
        return "\n".join(part for part in (text, line) if part) or "(no output)"

    def start(self) -> ToolCallStart:
        return start_tool_call(
            self.id,
            self.title,
            kind="execute",
            status=self.status,
            content=self.content(),
            raw_input={"language": self.language, "code": self.code},
            raw_output=self.raw_output(),
        )

    def progress(self) -> ToolCallProgress:
        return update_tool_call(
            self.id, status=self.status, content=self.content(), raw_output=self.raw_output()
        )

    def permission(self, risk: str) -> ToolCallUpdate:
        """The tool call a permission request shows: the code, and why it is risky if it is."""
        warning = f"⚠ this code {risk}. Check it before you allow it." if risk else ""
        title = f"⚠ {self.title}" if risk else self.title
        return ToolCallUpdate(
            tool_call_id=self.id,
            title=title,
            kind="execute",
            status="pending",
            content=self.content(warning),
            raw_input={"language": self.language, "code": self.code},
        )


def _outputs_content(outputs: Sequence[Output], done: ExecutionDone | None) -> list[ToolContent]:
    """Text outputs run together in fenced blocks, images between them, in order."""
    where = f"execution #{done.execution_id}" if done is not None else ""
    shown: list[ToolContent] = []
    text = ""

    def flush() -> None:
        nonlocal text
        if text.strip():
            body = trim_text(clean(text, colour=False), SHOWN_CHARS, where=where)
            shown.append(tool_content(text_block(fenced(body))))
        text = ""

    for out in outputs:
        if out.mime.startswith("image/") and out.stream in ("display", "result"):
            flush()
            shown.append(tool_content(image_block(out.data, out.mime)))
        else:
            text += _output_text(out)
    flush()
    return shown


def _output_text(out: Output) -> str:
    if out.stream in ("stdout", "stderr"):
        return out.data
    if out.mime.startswith("image/"):
        return f"[image: {out.path}]\n" if out.path else "[image]\n"
    if out.stream == "error":  # the whole traceback
        return (out.data or out.text).rstrip("\n") + "\n"
    text = out.text or (out.data if out.mime.startswith("text/") else f"[{out.mime}]")
    return text.rstrip("\n") + "\n"


def status_line(done: ExecutionDone) -> str:
    """How a run that did not simply succeed ended, and the files it made ("" if neither)."""
    parts: list[str] = []
    if done.exit_code not in (None, 0):
        parts.append(f"exit status {done.exit_code}")
    if done.status not in ("ok", "error"):  # an error's traceback is in the output already
        parts.append(done.status + (f": {done.message}" if done.message else ""))
    line = "; ".join(parts)
    if done.files:
        line += ("\n" if line else "") + "files: " + ", ".join(done.files[:20])
    return line


# -- a live turn --------------------------------------------------------------------------------


class TurnUpdates:
    """The session updates for one prompt's events, in order (``of(event)``)."""

    def __init__(self) -> None:
        self._tag = uuid.uuid4().hex[:8]  # block ids start again in every loci process
        self.views: dict[str, ToolCallView] = {}  # by the CodeBlock's id
        self._running: ToolCallView | None = None
        self._said = False  # some of the model's text has been sent
        self._step = False  # a model call ended since: the next text is a new paragraph

    def of(self, event: Event) -> list[Update]:
        if isinstance(event, TextDelta):
            return self._text(event.text)
        if isinstance(event, ModelDone):
            self._step = self._said
            return []
        if isinstance(event, CodeBlock):
            view = ToolCallView(f"{event.id}-{self._tag}", event.language, event.code)
            self.views[event.id] = view
            return [view.start()]
        if isinstance(event, (Approval, ExecutionStart, Output, ExecutionDone)):
            return self._tool_event(event)
        if isinstance(event, Notice):
            return [notice_update(event)]
        if isinstance(event, Grounding):
            warning = unbacked_warning(event)
            return [quoted(warning)] if warning else []
        if isinstance(event, Vote):
            return self._vote(event)
        if isinstance(event, TurnDone):
            return self._settle()
        return []  # TurnStart: nothing to show

    def _vote(self, vote: Vote) -> list[Update]:
        """The verdict, quoted; the kept answer again when another came after it."""
        said: list[Update] = [quoted(vote.summary)]
        if vote.again:
            self._step = True
            said += self._text(vote.answer)
        return said

    def _text(self, text: str) -> list[Update]:
        if not text:
            return []
        if self._step:
            text, self._step = "\n\n" + text.lstrip("\n"), False
        self._said = True
        return [update_agent_message_text(text)]

    def _tool_event(self, event: ToolEvent) -> list[Update]:
        if isinstance(event, (Approval, ExecutionStart)):
            view = self.views.get(event.block_id)
        else:  # outputs and the end belong to the execution under way (one at a time)
            view = self._running
        if view is None:
            return []
        if isinstance(event, Approval):
            if event.approved:
                return []
            view.refused = event.reason or "the user said no"
        elif isinstance(event, ExecutionStart):  # a second start: a retry after an install
            view.started, view.outputs, view.done = True, [], None
            self._running = view
        elif isinstance(event, Output):
            view.outputs.append(event)
        else:
            view.done, self._running = event, None
        return [view.progress()]

    def _settle(self) -> list[Update]:
        """Tool calls that were approved but never ran (a language loci cannot run, or the
        turn was stopped first) end as failed."""
        settled: list[Update] = []
        for view in self.views.values():
            if view.status in ("pending", "in_progress"):
                view.refused = "stopped" if view.started else "it did not run"
                settled.append(view.progress())
        return settled


# -- a stored conversation ----------------------------------------------------------------------


def replay(record: ConversationRecord) -> list[Update]:
    """The updates that show a stored conversation: what the person asked, what the model
    answered, and every execution as a finished tool call (loci's own notes left out)."""
    updates: list[Update] = []
    for item in record.items:
        if isinstance(item, ExecutionRecord):
            updates.append(_stored_view(item).start())
            continue
        updates += _stored_message(item)
    return updates


def _stored_message(item: MessageRecord) -> list[Update]:
    message = item.message
    if message.role == "user" and message.by == "person":
        return [update_user_message_text(request_of(message.content))]
    if message.role != "assistant" or not message.content.strip():
        return []
    shown: list[Update] = [update_agent_message_text(message.content)]
    if warning := unbacked_warning(item.grounding):
        shown.append(quoted(warning))
    return shown


def _stored_view(record: ExecutionRecord) -> ToolCallView:
    view = ToolCallView(f"execution-{record.id}", record.language, record.code, started=True)
    if record.status == "denied":
        view.refused = record.message or "the user said no"
        return view
    status: ExecStatus = "crashed" if record.status == "running" else record.status
    message = record.message or ("cut short: loci stopped" if record.status == "running" else "")
    view.outputs = list(record.outputs)
    view.done = ExecutionDone(
        record.id,
        status,
        record.duration or 0.0,
        record.exit_code,
        record.error_name,
        record.error_value,
        message,
        record.files,
    )
    return view
