"""What loci tells a model between its replies, and when.

Small models answer from memory, repeat code that already ran, or leave out the ``print``; the
loop sends them back with one of these notes. Each rule is a pure function of the turn so far,
so the loop decides *that* a note is due and this module decides *which*. A missing module is
met with an offer to ``pip install`` it, approved like any other code.
"""

from __future__ import annotations

import functools
import re
import shlex
import sys
from importlib import resources

from .events import ExecutionDone, Grounding
from .grounding import among, numbers
from .turn import Turn

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

VERIFY_NOTE = (
    "No code has run yet, so that answer is not backed by any output. "
    "Write a code block that computes it."
)
REPEAT_NOTE = (
    "[not run: this same code already ran in this request; its output is above. "
    "Change the code, or give the final answer.]"
)
SILENT_REPEAT_NOTE = (
    "[not run: this same code already ran and printed nothing, so it shows you nothing again. "
    "print() the value you need, or give the final answer.]"
)
FAILED_REPEAT_NOTE = (
    "[not run: this same code already ran and failed with {error}. Running it again fails "
    "the same way: change the code to fix that error.]"
)
SILENT_NOTE = (
    "The code printed nothing, so that answer is not backed by any output. print() the result."
)
FIX_NOTE = (
    "The last code failed, so that answer is not backed by any output. "
    "Fix the error and run the code again."
)
ECHO_NOTE = (
    "The code printed {numbers} as it was typed into the code, not computed, so that answer "
    "is not backed by any output. Write code that computes it and print the result."
)
FINAL_NOTE = "Step limit reached. Answer now from the outputs above, without code."
CLOSING_NOTE = (
    "You sent code that already ran, again. No more code for this request: answer now from "
    "the outputs above, without code."
)
NOT_RUN_NOTE = "Not run: no more code runs for this request."

ERROR_CHARS = 200  # of a failure quoted back to the model
MAX_NUDGES = 2  # times one request may be sent back for code that backs its answer
MAX_REPEATS = 1  # times the model may re-send code that already ran before it must answer
CODE_PREFILL = "```python\n"  # how a nudged reply starts, where the model allows a prefill

_MISSING = re.compile(r"No module named '([A-Za-z0-9_]+)")


def unbacked_note(turn: Turn, reply: str, grounding: Grounding) -> str | None:
    """What to tell a model whose final answer no output backs (at most ``MAX_NUDGES`` times a
    request). A question with figures answered with a new figure counts as computed, even when
    the figure is small: small models answer those from memory. An answer whose figure the
    code only printed as typed (``print(460836225.3)``) is sent back when no output showed a
    computed number; beside one (a sample size printed with its mean) it is only flagged."""
    if turn.nudges >= MAX_NUDGES:
        return None
    if turn.last_failed and (grounding.unsupported or not turn.evidence):
        return FIX_NOTE
    echoed = among(grounding.unsupported, turn.echoed)
    if echoed and not turn.computed:  # the code printed figures and computed none
        return ECHO_NOTE.format(numbers=", ".join(echoed))
    if turn.evidence:
        return None
    figured = bool(grounding.unsupported) or _new_figure(reply, turn.text)
    if turn.executions:
        return SILENT_NOTE if figured else None  # code ran but printed nothing
    if figured or turn.about_files:
        return None if turn.nudges else VERIFY_NOTE  # from memory, or about an unread file
    return None


def nudge_notice(note: str) -> str:
    """What the person is told when ``unbacked_note``'s ``note`` sends the model back."""
    if note.startswith(ECHO_NOTE.split("{", 1)[0]):
        return "the answer's figure was typed into the code, not computed; asking for code"
    return "the answer is backed by no output; asking for code"


def _new_figure(reply: str, request: str) -> bool:
    """A request with figures answered with a figure it does not contain: "4" for 12 apples
    among 3 people. Figures copied from the request (a summary of a text that has numbers) are
    not an answer from memory."""
    asked = set(numbers(request))
    return bool(asked) and any(n not in asked for n in numbers(reply))


def repeat_note(turn: Turn) -> str:
    """What to tell a model that sent code it already ran: a failed block's error, so it
    fixes it instead of sending it a third time (small models do), that it printed nothing,
    or where its output is."""
    if turn.last_failed and turn.last_error:
        return FAILED_REPEAT_NOTE.format(error=turn.last_error)
    return SILENT_REPEAT_NOTE if turn.last_silent else REPEAT_NOTE


def failure(done: ExecutionDone) -> str:
    """How a block failed, in a few words ("" when it did not)."""
    if done.status == "ok":
        return ""
    if done.error_name:
        return f"{done.error_name}: {done.error_value}"[:ERROR_CHARS]
    if done.exit_code is not None:
        return f"exit status {done.exit_code}"
    return (done.message or done.status)[:ERROR_CHARS]


def missing_module(done: ExecutionDone) -> str | None:
    """The module a block failed to import, if that is how it failed."""
    if done.error_name != "ModuleNotFoundError":
        return None
    found = _MISSING.search(done.error_value)
    return found.group(1) if found else None


@functools.cache
def distributions() -> dict[str, str]:
    """Import name -> the PyPI distribution that provides it, where they differ
    (``data/distributions.toml``)."""
    text = resources.files("loci").joinpath("data/distributions.toml").read_text("utf-8")
    table: dict[str, str] = tomllib.loads(text)["distributions"]
    return table


def distribution(module: str) -> str:
    """What to ``pip install`` for a missing top-level ``module``."""
    return distributions().get(module, module)


def pip_install(python: str, module: str) -> tuple[str, str]:
    """The PyPI package for ``module`` and the shell line that installs it for ``python``."""
    package = distribution(module)
    return package, f"{shlex.quote(python)} -m pip install {shlex.quote(package)}"
