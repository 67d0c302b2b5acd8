"""The automatic pass/fail checks of ``demos.py``, on a run's events and its working directory.

A check reads what the code printed (stdout, results and displays of executions that ended
``ok``; never tracebacks or stderr), the code itself, and the *answer*: the last non-empty
``model_done`` text. Each returns a :class:`Verdict`: named criteria (all must hold) plus facts
reported without deciding anything. Numbers are matched against values this module computes
itself, so a check cannot be passed by repeating the prompt.
"""

from __future__ import annotations

import bisect
import math
import re
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# -- what a run did ---------------------------------------------------------------------------


@dataclass
class Execution:
    """One code block that started: its code, how it ended and what it printed."""

    id: int
    language: str
    code: str
    status: str = ""  # "" when no execution_done came (killed)
    output: str = ""


@dataclass
class Transcript:
    """The executions of a run and its answer (the last non-empty ``model_done`` text)."""

    executions: list[Execution]
    answer: str

    def ok(self) -> list[Execution]:
        """The executions that ended ``ok``."""
        return [x for x in self.executions if x.status == "ok"]

    def ok_output(self) -> str:
        """Everything the ``ok`` executions printed."""
        return "\n".join(x.output for x in self.ok())

    def code(self) -> str:
        """The code of every execution."""
        return "\n".join(x.code for x in self.executions)


@dataclass
class Verdict:
    """Named criteria (the demo passes when all hold) and facts reported alongside."""

    criteria: dict[str, bool]
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return bool(self.criteria) and all(self.criteria.values())

    def failed(self) -> list[str]:
        """The names of the criteria that do not hold."""
        return [k for k, v in self.criteria.items() if not v]


PRINTED = ("stdout", "result", "display")


def output_text(ev: dict[str, Any]) -> str:
    """The text of an ``output`` event: its data when textual, else its plain-text fallback."""
    if str(ev.get("mime", "text/plain")).startswith("text/"):
        return str(ev.get("data") or "")
    return str(ev.get("text") or "")


def transcript(events: Iterable[dict[str, Any]]) -> Transcript:
    """Fold ``loci --json`` events into executions and the answer."""
    execs: dict[int, Execution] = {}
    answer = ""
    for ev in events:
        kind, xid = ev.get("type"), int(ev.get("execution_id") or 0)
        if kind == "execution_start":
            execs[xid] = Execution(xid, str(ev.get("language")), str(ev.get("code") or ""))
        elif kind == "output" and xid in execs and ev.get("stream") in PRINTED:
            execs[xid].output += output_text(ev)
        elif kind == "execution_done" and xid in execs:
            execs[xid].status = str(ev.get("status"))
        elif kind == "model_done" and str(ev.get("text") or "").strip():
            answer = str(ev["text"])
    return Transcript(list(execs.values()), answer)


# -- text helpers -----------------------------------------------------------------------------

_NUMBER = re.compile(r"(?<![A-Za-z_\d.])[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_NOT_PROSE = re.compile(
    r"```.*?(?:```|$)|`[^`\n]*`|\$\$.*?\$\$|\$[^$\n]*\$|\\\[.*?\\\]|\\\(.*?\\\)|\\[A-Za-z]+",
    re.S,
)
_WORD = re.compile(r"[A-Za-z]{2,}")
FORMULA_WORDS = frozenset(
    {"sqrt", "frac", "exp", "log", "ln", "sin", "cos", "tan", "diff", "dx", "df", "cdot"}
)
MAX_NUMBERS = 20000
MAX_CANDIDATES = 400
MAX_CODE_POINTS = 50  # code literals tried as x on each output line (fast inverse sqrt)
MAX_LINES = 1000  # output lines searched for an approximation


def numbers(text: str) -> list[float]:
    """The finite numbers written in ``text`` (decimal or scientific notation), in order."""
    found = []
    for m in _NUMBER.finditer(text):
        try:
            x = float(m.group())
        except ValueError:
            continue
        if math.isfinite(x):
            found.append(x)
        if len(found) >= MAX_NUMBERS:
            break
    return found


def cjk_count(text: str) -> int:
    """How many CJK ideographs ``text`` holds."""
    return len(_CJK.findall(text))


def cjk_share(text: str) -> float:
    """CJK ideographs among CJK plus Latin letters of words (2+ letters, not a formula's sqrt,
    exp, ...), with code, math and LaTeX commands left out: how Chinese the prose is."""
    prose = _NOT_PROSE.sub(" ", text)
    latin = sum(len(w) for w in _WORD.findall(prose) if w.lower() not in FORMULA_WORDS)
    cjk = cjk_count(prose)
    return cjk / (cjk + latin) if cjk + latin else 0.0


def candidates(texts: Iterable[str], extra: Iterable[float] = ()) -> list[float]:
    """Positive numbers (below 1e6) the code or its output names: the points it may have used."""
    seen: dict[float, None] = dict.fromkeys(x for x in extra if 0 < x < 1e6)
    for text in texts:
        for x in numbers(text):
            if 0 < x < 1e6:
                seen.setdefault(x)
            if len(seen) >= MAX_CANDIDATES:
                return list(seen)
    return list(seen)


def close_count(sorted_ys: list[float], target: float, rel: float) -> int:
    """How many of ``sorted_ys`` lie within ``rel`` (relative) of ``target``."""
    tol = abs(target) * rel
    return bisect.bisect_right(sorted_ys, target + tol) - bisect.bisect_left(
        sorted_ys, target - tol
    )


def normalize(text: str) -> str:
    """Lower case, every run of non-alphanumerics one space."""
    return " ".join(re.sub(r"[^0-9a-z]+", " ", text.lower()).split())


# -- 1. derivative, in Chinese ----------------------------------------------------------------

CODE_DERIVATIVE = re.compile(r"diff\(|\.diff\b|deriv|fprime|f_prime|grad", re.I)
PRINTED_DERIVATIVE = re.compile(r"f'\(|f′|d/dx|df/dx|deriv|导数", re.I)
FIXED_POINTS = (0.1, 0.25, 0.5, *range(1, 11), math.pi, math.e)


def true_derivative(x: float) -> float:
    """f'(x) for f(x) = sqrt(x + sqrt(x + sqrt(x))), by the chain rule (x > 0)."""
    v = x + math.sqrt(x)
    u = x + math.sqrt(v)
    return (1 + (1 + 1 / (2 * math.sqrt(x))) / (2 * math.sqrt(v))) / (2 * math.sqrt(u))


def derivative_matches(t: Transcript, rel: float = 1e-4) -> list[float]:
    """Points x (named in the code or output) where two printed numbers equal f'(x) within
    rel: two in one execution's output, or two different ones across them. The same value
    printed again by a rerun of the same code is one value, not a check of it."""
    each = [sorted(numbers(x.output)) for x in t.ok()]
    distinct = sorted({y for ys in each for y in ys})
    xs = candidates([x.code for x in t.ok()] + [t.ok_output()], FIXED_POINTS)
    return [
        x
        for x in xs
        if close_count(distinct, true_derivative(x), rel) >= 2
        or any(close_count(ys, true_derivative(x), rel) >= 2 for ys in each)
    ]


def check_derivative(t: Transcript) -> Verdict:
    """Demo 1: sympy-style derivative, two printed values of f'(x0), answer in Chinese."""
    matches = derivative_matches(t)
    share = cjk_share(t.answer)
    return Verdict(
        {
            "an execution ran ok": bool(t.ok()),
            "a derivative in the code or output": bool(
                CODE_DERIVATIVE.search(t.code()) or PRINTED_DERIVATIVE.search(t.ok_output())
            ),
            "two printed values equal f'(x0) to 1e-4": bool(matches),
            "answer >= 30% CJK": share >= 0.30,
        },
        {"points_checked": matches[:5], "cjk_share": round(share, 3)},
    )


# -- 2. what's in the news --------------------------------------------------------------------


def titles_named(text: str, titles: Iterable[str]) -> list[str]:
    """The titles ``text`` names (case, punctuation and spacing ignored)."""
    hay = f" {normalize(text)} "
    return [title for title in titles if f" {normalize(title)} " in hay]


def check_news(t: Transcript, titles: list[str], hits: int) -> Verdict:
    """Demo 2: the feed was fetched and the answer names at least 3 of its titles."""
    named = titles_named(t.answer, titles)
    return Verdict(
        {"the feed was fetched": hits > 0, "answer names >= 3 titles": len(named) >= 3},
        {
            "feed_requests": hits,
            "titles_in_answer": len(named),
            "titles_in_output": len(titles_named(t.ok_output(), titles)),
        },
    )


# -- 3. PowerPoint ----------------------------------------------------------------------------

_SLIDE = re.compile(r"ppt/slides/slide\d+\.xml")


def zip_slides(path: Path) -> int | None:
    """Slides in a .pptx read as a zip (``ppt/slides/slideN.xml``); None when not a pptx zip."""
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
            if z.testzip() is not None:
                return None
    except (OSError, zipfile.BadZipFile):
        return None
    if "[Content_Types].xml" not in names or "ppt/presentation.xml" not in names:
        return None
    return sum(1 for n in names if _SLIDE.fullmatch(n))


def pptx_slides(path: Path) -> int | None:
    """Slides as python-pptx counts them; None when python-pptx is not importable here."""
    try:
        from pptx import Presentation
    except ImportError:
        return None
    try:
        return len(Presentation(str(path)).slides)
    except Exception:  # anything python-pptx cannot open is not a valid deck
        return -1


def check_pptx(
    t: Transcript, workdir: Path, counter: Callable[[Path], int | None] = pptx_slides
) -> Verdict:
    """Demo 3: ``llm.pptx`` in the workdir is a pptx with >= 3 slides."""
    path = workdir / "llm.pptx"
    in_zip = zip_slides(path) if path.is_file() else None
    by_pptx = counter(path) if in_zip is not None else None
    slides = in_zip if by_pptx is None else min(in_zip or 0, by_pptx)
    pip = [x.status for x in t.executions if "pip" in x.code and "pptx" in x.code]
    return Verdict(
        {
            "llm.pptx exists": path.is_file(),
            "it is a pptx": in_zip is not None and (by_pptx is None or by_pptx >= 0),
            ">= 3 slides": (slides or 0) >= 3,
        },
        {
            "slides": slides,
            "checked_with": "zip" if by_pptx is None else "zip+python-pptx",
            "pip_install_runs": pip,
            "pptx_files": sorted(str(p.relative_to(workdir)) for p in workdir.rglob("*.pptx")),
        },
    )


# -- 4. fast inverse square root --------------------------------------------------------------

MAGIC = re.compile(r"0x5f3759df|1597463007|0x5f375a86|1597488774", re.I)
_ERROR_LINE = re.compile(r"err|误差|accura|precision|deviation", re.I)
_PERCENT = re.compile(r"([-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?)\s*%")


def approximations(t: Transcript) -> list[list[float]]:
    """Pairs [x, y] printed on one line (x there or in the code) with y within 1% of 1/sqrt(x)
    but not exact (more than 1e-6 off): a computed approximation next to its input."""
    code_xs = candidates(x.code for x in t.ok())[:MAX_CODE_POINTS]
    pairs = []
    for line in t.ok_output().splitlines()[:MAX_LINES]:
        ys = numbers(line)[:50]
        for x in dict.fromkeys([*(y for y in ys if y > 0), *code_xs]):
            pairs += [[x, y] for y in ys if x != y and 1e-6 < abs(y * math.sqrt(x) - 1) < 0.01]
    return pairs


def small_errors(text: str) -> list[float]:
    """Errors printed on lines that say error/accuracy: 0 < v < 0.01, or 0 < v% < 1%."""
    found = []
    for line in text.splitlines():
        if not _ERROR_LINE.search(line):
            continue
        percents = [float(p) for p in _PERCENT.findall(line)]
        found += [p / 100 for p in percents if 0 < p < 1]
        bare = _PERCENT.sub(" ", line)
        found += [v for v in numbers(bare) if 0 < v < 0.01]
    return found


def check_fast_inv_sqrt(t: Transcript) -> Verdict:
    """Demo 4: code with the magic constant ran ok and printed an approximation or an error."""
    magic_ok = [x for x in t.ok() if MAGIC.search(x.code)]
    approx = approximations(t) if magic_ok else []
    errors = small_errors(t.ok_output()) if magic_ok else []
    return Verdict(
        {
            "the magic constant in the code": bool(MAGIC.search(t.code())),
            "code with it ran ok": bool(magic_ok),
            "accuracy printed": bool(approx or errors),
        },
        {"approximated_at": approx[:5], "errors_printed": errors[:5]},
    )


# -- 5. summarise and translate ---------------------------------------------------------------

TERM = re.compile(r"graph[\s-]*lattice", re.I)


def check_translation(t: Transcript) -> Verdict:
    """Demo 5: the answer has >= 20 CJK characters and names GraphLattice; code not needed."""
    return Verdict(
        {
            "answer has >= 20 CJK characters": cjk_count(t.answer) >= 20,
            "answer names GraphLattice": bool(TERM.search(t.answer)),
        },
        {
            "cjk_characters": cjk_count(t.answer),
            "exec_statuses": [x.status for x in t.executions],
        },
    )
