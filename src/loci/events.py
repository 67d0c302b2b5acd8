"""The one protocol every front end consumes.

``Session.run(text)`` yields these, in order, for one request (a *turn*):

    TurnStart
    ( TextDelta* ModelDone                      one model call (a *step*)
      ( CodeBlock Approval                      each code block the model wrote
        [ ExecutionStart (Output | InputRequest)* ExecutionDone ] )*
    )*
    Notice*                                     anywhere: something the user should know
    [ Grounding ]
    [ Vote ]                                    with effort above 1: the answer kept
    TurnDone                                    always last: status and token usage

Every event is a frozen dataclass with a ``type`` literal; ``to_dict`` gives the JSON object
``loci --json`` prints (one per line). Kernels yield ``Output`` and ``KernelResult``; the session
wraps them with the execution id.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

ExecStatus = Literal["ok", "error", "interrupted", "timeout", "crashed", "denied", "skipped"]
TurnStatus = Literal["done", "max_steps", "repeated", "interrupted", "error"]
OutputStream = Literal["stdout", "stderr", "result", "display", "error", "stdin"]


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
        )

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class TurnStart:
    conversation_id: int
    text: str
    type: Literal["turn_start"] = "turn_start"


@dataclass(frozen=True)
class TextDelta:
    """A piece of the model's reply as it streams."""

    text: str
    type: Literal["text"] = "text"


@dataclass(frozen=True)
class ModelDone:
    """One model call finished; ``text`` is the whole reply of that call."""

    text: str
    usage: Usage
    stopped: bool = False  # True when the user stopped the stream; text is what arrived
    type: Literal["model_done"] = "model_done"


@dataclass(frozen=True)
class CodeBlock:
    """A code block the model wants to run. ``sha256`` binds approval to this exact code."""

    id: str
    language: str
    code: str
    sha256: str
    type: Literal["code"] = "code"


@dataclass(frozen=True)
class Approval:
    """What was decided about a CodeBlock. ``code`` is what will run (it may have been edited)."""

    block_id: str
    approved: bool
    by: Literal["user", "auto", "policy"]
    code: str
    reason: str = ""
    type: Literal["approval"] = "approval"


@dataclass(frozen=True)
class ExecutionStart:
    execution_id: int
    block_id: str
    language: str
    code: str
    type: Literal["execution_start"] = "execution_start"


@dataclass(frozen=True)
class Output:
    """Something a running block produced.

    ``stream``: stdout/stderr text, ``result`` (the value of the last expression), ``display``
    (rich output), ``error`` (a traceback), ``stdin`` (a prompt and what the person typed at
    it, ``••••`` for a password; ``text`` says so when nobody answered). ``mime`` is the MIME
    type of ``data``; binary data (images) is base64 text. ``path`` is where the session saved
    a file for it (images), and ``text`` a plain-text fallback for rich outputs.
    """

    stream: OutputStream
    data: str
    mime: str = "text/plain"
    text: str = ""
    path: str = ""
    execution_id: int = 0
    type: Literal["output"] = "output"


@dataclass(frozen=True)
class InputRequest:
    """The running block reads stdin (``input()``, ``getpass``): a front end may answer it
    (``loci.stdin.InputProvider``). ``password``: what is typed must not be shown or kept."""

    prompt: str
    password: bool = False
    execution_id: int = 0
    type: Literal["input_request"] = "input_request"


@dataclass(frozen=True)
class KernelResult:
    """How an execution ended, as the kernel saw it (yielded last by ``Kernel.execute``)."""

    status: ExecStatus
    exit_code: int | None = None
    error_name: str = ""
    error_value: str = ""
    message: str = ""  # e.g. "timed out after 5s; kernel restarted"
    type: Literal["kernel_result"] = "kernel_result"


@dataclass(frozen=True)
class ExecutionDone:
    execution_id: int
    status: ExecStatus
    duration: float
    exit_code: int | None = None
    error_name: str = ""
    error_value: str = ""
    message: str = ""
    files: tuple[str, ...] = ()
    type: Literal["execution_done"] = "execution_done"


@dataclass(frozen=True)
class Notice:
    level: Literal["info", "warning", "error"]
    message: str
    type: Literal["notice"] = "notice"


@dataclass(frozen=True)
class Grounding:
    """Numbers in the final answer that the turn's outputs support, and those none does."""

    supported: tuple[str, ...] = ()
    unsupported: tuple[str, ...] = ()
    type: Literal["grounding"] = "grounding"


@dataclass(frozen=True)
class Vote:
    """With ``effort`` above 1 (``loci.vote``): the request was attempted ``attempts`` times;
    ``agree`` of them claimed what the kept attempt (number ``attempt``, from 1) did, and its
    ``answer`` is the turn's answer. ``agree`` is 0 when no attempt's answer came from code
    that ran (the first is kept). ``again``: another answer was shown after it, so a front
    end shows it once more. ``summary`` says it all in one line, for every front end."""

    answer: str
    attempt: int
    agree: int
    attempts: int
    again: bool = False
    summary: str = field(init=False)
    type: Literal["vote"] = "vote"

    def __post_init__(self) -> None:
        if not self.agree:
            said = (
                f"{self.attempts} attempts, none with an answer from code that ran: kept the first"
            )
        else:
            said = (
                f"{self.agree} of {self.attempts} attempts agree: kept the answer of attempt"
                f" {self.attempt}"
            )
        object.__setattr__(self, "summary", said)


@dataclass(frozen=True)
class TurnDone:
    status: TurnStatus
    usage: Usage = field(default_factory=Usage)
    steps: int = 0
    conversation_id: int = 0
    message: str = ""
    type: Literal["turn_done"] = "turn_done"


Event = (
    TurnStart
    | TextDelta
    | ModelDone
    | CodeBlock
    | Approval
    | ExecutionStart
    | Output
    | InputRequest
    | ExecutionDone
    | Notice
    | Grounding
    | Vote
    | TurnDone
)

KernelEvent = Output | InputRequest | KernelResult


def to_dict(event: Event | KernelEvent) -> dict[str, Any]:
    """The JSON form of an event (what ``loci --json`` prints)."""
    return dataclasses.asdict(event)
