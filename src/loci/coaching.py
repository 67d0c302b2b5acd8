"""What loci tells a model between its replies, and when.

Small models answer from memory, repeat code that already ran, or leave out the ``print``; the
loop sends them back with one of these notes. Each rule is a pure function of the turn so far,
so the loop decides *that* a note is due and this module decides *which*. A missing module is
met with an offer to ``pip install`` it, approved like any other code.
"""

from __future__ import annotations

import re
import shlex

from .events import ExecutionDone, Grounding
from .grounding import numbers
from .turn import Turn

VERIFY_NOTE = (
    "No code has run yet, so that answer is not backed by any output. "
    "Write a code block that computes it."
)
REPEAT_NOTE = (
    "[not run: this exact code already ran in this request; its output is above. "
    "Change the code, or give the final answer.]"
)
SILENT_NOTE = (
    "The code printed nothing, so that answer is not backed by any output. print() the result."
)
FIX_NOTE = (
    "The last code failed, so that answer is not backed by any output. "
    "Fix the error and run the code again."
)
FINAL_NOTE = "Step limit reached. Answer now from the outputs above, without code."

MAX_NUDGES = 2  # times one request may be sent back for code that backs its answer
MAX_REPEATS = 1  # times the model may re-send code that already ran before the turn stops
CODE_PREFILL = "```python\n"  # how a nudged reply starts, where the model allows a prefill

# import name -> PyPI name, for the ModuleNotFoundError install proposal
PIP_NAMES = {
    "sklearn": "scikit-learn",
    "cv2": "opencv-python",
    "PIL": "pillow",
    "yaml": "pyyaml",
    "bs4": "beautifulsoup4",
    "dateutil": "python-dateutil",
    "skimage": "scikit-image",
    "pptx": "python-pptx",
}
_MISSING = re.compile(r"No module named '([A-Za-z0-9_]+)")


def unbacked_note(turn: Turn, reply: str, grounding: Grounding) -> str | None:
    """What to tell a model whose final answer no output backs (at most ``MAX_NUDGES`` times a
    request). A question with figures answered with a figure counts as computed, even when the
    figure is small or restates the question: small models answer those from memory."""
    if turn.nudges >= MAX_NUDGES:
        return None
    if turn.last_failed and (grounding.unsupported or not turn.evidence):
        return FIX_NOTE
    if turn.evidence:
        return None
    figured = bool(grounding.unsupported) or bool(numbers(reply) and numbers(turn.text))
    if turn.executions:
        return SILENT_NOTE if figured else None  # code ran but printed nothing
    if figured or turn.about_files:
        return None if turn.nudges else VERIFY_NOTE  # from memory, or about an unread file
    return None


def missing_module(done: ExecutionDone) -> str | None:
    """The module a block failed to import, if that is how it failed."""
    if done.error_name != "ModuleNotFoundError":
        return None
    found = _MISSING.search(done.error_value)
    return found.group(1) if found else None


def pip_install(python: str, module: str) -> tuple[str, str]:
    """The PyPI package for ``module`` and the shell line that installs it for ``python``."""
    package = PIP_NAMES.get(module, module)
    return package, f"{shlex.quote(python)} -m pip install {shlex.quote(package)}"
