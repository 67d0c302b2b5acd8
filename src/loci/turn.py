"""One request being handled: the state the loop passes from step to step.

``Session.run`` makes a ``Turn`` for each request and hands it to every step; nothing about
the request lives on the session itself, so a step reads and changes exactly the turn it is
given.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING

from .events import Grounding, Usage
from .grounding import any_number, output_texts, shown_literals, shown_outputs
from .models.images import output_images

if TYPE_CHECKING:
    from .execution import ExecutionRequest, ExecutionResult

FAILED = ("error", "timeout", "crashed")


def code_key(language: str, code: str) -> str:
    """What two blocks share when they are the same code: for Python its syntax tree
    (comments and layout left out), else its lines without blank or ``#`` comment lines. A
    small model sends code again with a comment reworded, and that is not new code."""
    tree = None
    if language.lower().startswith("py"):
        # a magic (%pip), a null byte, code nested too deep to parse: compared as lines
        with contextlib.suppress(SyntaxError, ValueError, RecursionError, MemoryError):
            tree = ast.dump(ast.parse(code))
    if tree is None:
        lines = (line.rstrip() for line in code.splitlines())
        tree = "\n".join(line for line in lines if line and not line.lstrip().startswith("#"))
    return hashlib.sha256(tree.encode()).hexdigest()


@dataclass
class Turn:
    """What one request has done so far."""

    text: str
    usage_before: Usage = field(default_factory=Usage)  # the session's usage when it began
    steps: int = 0
    run_codes: set[str] = field(default_factory=set)  # ``code_key`` of the code that ran
    evidence: list[str] = field(default_factory=list)  # what its executions printed
    echoed: set[Decimal] = field(default_factory=set)  # numbers code printed that it typed
    literals: list[Decimal] = field(default_factory=list)  # data its code showed (grounding)
    nudges: int = 0  # times the model was sent back to back its answer with code
    last_failed: bool = False  # the last execution ended in an error, timeout or crash
    last_error: str = ""  # how it failed, e.g. "NameError: name 'sqrt' is not defined"
    last_silent: bool = False  # the last execution ran ok and printed nothing
    executions: int = 0
    repeats: int = 0
    closing: bool = False  # it repeated itself again: the next reply must be the answer
    prefill: str = ""  # how the next reply must begin
    form_note: str = ""  # the note that sent it back for the answer's @fields, once a turn
    language_asked: bool = False  # sent back for an answer in the request's language
    preview: str = ""  # what the model was shown of the files the request names
    reply_id: int | None = None  # the stored id of the model's latest reply
    know_how: tuple[str, ...] = ()  # the recipes its model calls get (``loci.recipes``)
    start: int = 0  # where its messages begin in the session's history
    failed_calls: set[str] = field(default_factory=set)  # calls whose code failed
    ok_calls: set[str] = field(default_factory=set)  # calls whose code ran cleanly
    images: dict[str, tuple[str, ...]] = field(default_factory=dict)  # saved by each call
    answer: str = ""  # the final answer, once the model gave one
    grounding: Grounding | None = None  # what the outputs back of the numbers ``answer`` states

    def again(self, usage_before: Usage) -> Turn:
        """A fresh attempt at the same request (``loci.vote``): what the request brought
        along (its recipes, the file preview, where it starts), none of what was done."""
        return Turn(
            self.text,
            usage_before=usage_before,
            preview=self.preview,
            know_how=self.know_how,
            start=self.start,
        )

    @property
    def computed(self) -> bool:
        """Whether an output showed a number its code did not type (``evidence`` is blanked)."""
        return any_number(self.evidence)

    @property
    def about_files(self) -> bool:
        """Whether the request names files the model was shown a preview of."""
        return bool(self.preview)

    def record(
        self, call_id: str, request: ExecutionRequest, result: ExecutionResult, error: str
    ) -> None:
        """What the turn learns from one execution: what it printed and showed (grounding),
        whether it failed and how (``error``), and so which attempts a fix replaces."""
        done = result.done
        shown = shown_outputs(request.language, request.code, result.outputs)
        self.evidence.extend(shown.texts)
        self.echoed |= shown.echoed
        self.literals += shown_literals(
            request.language, request.code, done.status, result.outputs, done.files
        )
        self.last_failed = done.status in FAILED
        printed = any(t.strip() for t in output_texts(result.outputs))
        self.last_silent = done.status == "ok" and not printed
        if self.last_failed or done.status == "ok":
            (self.failed_calls if self.last_failed else self.ok_calls).add(call_id)
        self.last_error = error
        self.executions += 1
        self.images[call_id] = output_images(result.outputs)
