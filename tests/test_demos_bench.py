"""benchmarks/demos.py: each demo's check passes and fails on synthetic events (no model runs),
and the news demo runs end to end with a scripted model against the script's own feed."""

from __future__ import annotations

import json
import sys
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import _demo_checks as checks
import demos
from _runner import LiveProcesses

Exec = tuple[str, str, str]  # code, printed output, status


def events(*execs: Exec, answer: str = "", language: str = "python") -> list[dict[str, Any]]:
    """The events of a run whose executions are ``execs`` and whose last reply is ``answer``."""
    evs: list[dict[str, Any]] = [{"type": "turn_start", "conversation_id": 1, "text": "q"}]
    for n, (code, output, status) in enumerate(execs, 1):
        evs.append({"type": "model_done", "text": f"```python\n{code}\n```"})
        evs.append(
            {"type": "execution_start", "execution_id": n, "language": language, "code": code}
        )
        stream = "error" if status == "error" else "stdout"
        evs.append({"type": "output", "execution_id": n, "stream": stream, "data": output})
        evs.append({"type": "execution_done", "execution_id": n, "status": status})
    evs.append({"type": "model_done", "text": answer})
    evs.append({"type": "model_done", "text": ""})  # an empty last reply is not the answer
    evs.append({"type": "turn_done", "status": "done", "steps": len(execs) + 1})
    return evs


def run(*execs: Exec, answer: str = "") -> checks.Transcript:
    return checks.transcript(events(*execs, answer=answer))


# -- helpers ----------------------------------------------------------------------------------


def test_transcript_reads_printed_text_and_the_last_answer() -> None:
    evs = events(("print(1)", "1\n", "ok"), answer="final")
    evs.insert(4, {"type": "output", "execution_id": 1, "stream": "stderr", "data": "warn 7"})
    t = checks.transcript(evs)
    assert t.answer == "final"
    assert [x.output for x in t.executions] == ["1\n"]  # stderr left out


def test_numbers_and_cjk() -> None:
    assert checks.numbers("x0=2, d=1.5e-3 -4 .5 np.float64(0.25)") == [2, 1.5e-3, -4, 0.5, 0.25]
    assert checks.cjk_count("导数 is f") == 2
    latex = "导数为 $f'(x)=\\frac{1}{2\\sqrt{x+\\sqrt{x}}}$，数值验证与解析结果一致。"
    assert checks.cjk_share(latex) > 0.9
    assert checks.cjk_share("The derivative is f'(x) = 1/(2 sqrt(x)). 结果") < 0.3
    formula = "导数为 f'(x) = (1 + 1/(2*sqrt(x))) / (2*sqrt(x + sqrt(x)))，已数值验证。"
    assert checks.cjk_share(formula) == 1.0  # a formula written out is not English


# -- 1. derivative ----------------------------------------------------------------------------

SYMPY = "import sympy as sp\nx = sp.symbols('x')\nd = sp.diff(sp.sqrt(x + sp.sqrt(x)), x)\nx0 = 2"
D2 = checks.true_derivative(2.0)
CHINESE = "f(x) 的导数已经求出，并在 x=2 处用中心差分进行了数值验证，两者完全一致。"


def test_derivative_passes_with_both_values_and_a_chinese_answer() -> None:
    out = f"symbolic: {D2:.12f}\nnumeric: {D2 + 1e-9:.12f}\n"
    v = checks.check_derivative(run((SYMPY, out, "ok"), answer=CHINESE))
    assert v.passed, v.criteria
    assert 2.0 in v.info["points_checked"]


def test_the_two_values_may_come_from_two_executions() -> None:
    symbolic, numeric = (SYMPY, f"{D2:.12f}\n", "ok"), (SYMPY, f"{D2 + 1e-9:.12f}\n", "ok")
    assert checks.check_derivative(run(symbolic, numeric, answer=CHINESE)).passed


@pytest.mark.parametrize(
    ("execs", "answer", "failing"),
    [
        # one value only: no numeric check
        ([(SYMPY, f"f'(2) = {D2:.12f}\n", "ok")], CHINESE, "two printed values"),
        # one value printed again by a rerun of the same code: still no numeric check
        ([(SYMPY, f"{D2:.12f}\n", "ok"), (SYMPY, f"{D2:.12f}\n", "ok")], CHINESE,
         "two printed values"),
        # the derivative of a different function
        ([(SYMPY, "0.35355339\n0.35355340\n", "ok")], CHINESE, "two printed values"),
        # right numbers, English answer
        ([(SYMPY, f"{D2:.10f} {D2:.10f}\n", "ok")], "The derivative checks out.", "CJK"),
        # the numbers are in a traceback of a failed execution
        ([(SYMPY, f"{D2:.10f} {D2:.10f}\n", "error")], CHINESE, "ran ok"),
        # no derivative anywhere in code or output
        ([("x0 = 2\nprint(0.348258924, 0.348258925)", "0.348258924 0.348258925\n", "ok")],
         CHINESE, "a derivative"),
    ],
)  # fmt: skip
def test_derivative_fails(execs: list[Exec], answer: str, failing: str) -> None:
    v = checks.check_derivative(run(*execs, answer=answer))
    assert not v.passed
    assert any(failing in name for name in v.failed()), v.criteria


# -- 2. news ----------------------------------------------------------------------------------

FETCH = "import urllib.request\nprint(urllib.request.urlopen(URL).read())"


def test_news_passes_with_three_titles_and_a_request() -> None:
    answer = "Headlines:\n" + "\n".join(f"- **{t.upper()}**" for t in demos.TITLES[:3])
    v = checks.check_news(run((FETCH, "...", "ok"), answer=answer), demos.TITLES, hits=1)
    assert v.passed, v.criteria


@pytest.mark.parametrize(
    ("titles", "in_output_only", "hits", "failing"),
    [
        (3, False, 0, "fetched"),
        (2, False, 1, ">= 3 titles"),
        (5, True, 1, ">= 3 titles"),  # printed by the code but not in the answer
    ],
)
def test_news_fails(titles: int, in_output_only: bool, hits: int, failing: str) -> None:
    listed = "\n".join(demos.TITLES[:titles])
    out, answer = (listed, "See above.") if in_output_only else ("", listed)
    v = checks.check_news(run((FETCH, out, "ok"), answer=answer), demos.TITLES, hits=hits)
    assert not v.passed
    assert any(failing in name for name in v.failed()), v.criteria


# -- 3. pptx ----------------------------------------------------------------------------------


def fake_pptx(path: Path, slides: int) -> None:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("ppt/presentation.xml", "<p:presentation/>")
        for n in range(1, slides + 1):
            z.writestr(f"ppt/slides/slide{n}.xml", "<p:sld/>")
            z.writestr(f"ppt/slides/_rels/slide{n}.xml.rels", "<Relationships/>")


def no_pptx(path: Path) -> int | None:
    return None  # as if python-pptx were not importable


def test_pptx_passes_with_five_slides(tmp_path: Path) -> None:
    fake_pptx(tmp_path / "llm.pptx", 5)
    v = checks.check_pptx(run(), tmp_path, counter=no_pptx)
    assert v.passed, v.criteria
    assert v.info["slides"] == 5 and v.info["pptx_files"] == ["llm.pptx"]


def test_import_pptx_is_met_with_python_pptx() -> None:
    from loci.coaching import pip_install

    assert pip_install("python", "pptx")[0] == "python-pptx"  # 'pptx' is not on PyPI


@pytest.mark.parametrize("case", ["missing", "two slides", "not a zip", "other name", "broken"])
def test_pptx_fails(tmp_path: Path, case: str) -> None:
    path = tmp_path / ("deck.pptx" if case == "other name" else "llm.pptx")
    if case == "not a zip":
        path.write_text("not a presentation")
    elif case != "missing":
        fake_pptx(path, 2 if case == "two slides" else 5)
    counter = (lambda p: -1) if case == "broken" else no_pptx  # python-pptx cannot open it
    v = checks.check_pptx(run(), tmp_path, counter=counter)
    assert not v.passed, (case, v.criteria)


# -- 4. fast inverse square root --------------------------------------------------------------

QUAKE = "import struct\ni = struct.unpack('i', struct.pack('f', x))[0]\ny = 0x5f3759df - (i >> 1)"


@pytest.mark.parametrize(
    "output",
    [
        "x=4 fast=0.499154 exact=0.5\n",  # an approximation of 1/sqrt(4), not exact
        "max relative error: 0.175%\n",
        "mean rel. error = 1.2e-03\n",
    ],
)
def test_fast_inv_sqrt_passes(output: str) -> None:
    v = checks.check_fast_inv_sqrt(run((QUAKE, output, "ok"), answer="It is close."))
    assert v.passed, v.criteria


@pytest.mark.parametrize(
    ("code", "output", "status", "failing"),
    [
        ("import math\nprint(1 / math.sqrt(4))", "x=4 fast=0.499154\n", "ok", "magic"),
        (QUAKE, "x=4 fast=0.499154 error 0.0017\n", "error", "ran ok"),
        (QUAKE, "x=4 exact=0.5 x=16 exact=0.25\n", "ok", "accuracy"),  # exact values only
        (QUAKE, "error: 0.3\nx=4 fast=0.45\n", "ok", "accuracy"),  # far too inaccurate
    ],
)
def test_fast_inv_sqrt_fails(code: str, output: str, status: str, failing: str) -> None:
    v = checks.check_fast_inv_sqrt(run((code, output, status), answer="Done."))
    assert not v.passed
    assert any(failing in name for name in v.failed()), v.criteria


# -- 5. summarise and translate ---------------------------------------------------------------

SUMMARY = (
    "GraphLattice attention places tokens on a learned lattice. It matches dense attention "
    "with far less memory.\n\n中文翻译：GraphLattice 注意力将词元放在一个学习得到的二维格子上，"
    "在显著减少内存的同时达到了与稠密注意力相当的效果。"
)


def test_translation_passes_without_code_and_with_failed_code() -> None:
    assert checks.check_translation(run(answer=SUMMARY)).passed
    v = checks.check_translation(run(("1/0", "ZeroDivisionError", "error"), answer=SUMMARY))
    assert v.passed and v.info["exec_statuses"] == ["error"]


@pytest.mark.parametrize(
    ("answer", "failing"),
    [
        (SUMMARY.split("\n\n")[0], "CJK"),  # never translated
        (SUMMARY.replace("GraphLattice", "图格"), "GraphLattice"),  # the term lost
        ("图格注意力。", "CJK"),
    ],
)
def test_translation_fails(answer: str, failing: str) -> None:
    v = checks.check_translation(run(answer=answer))
    assert not v.passed
    assert any(failing in name for name in v.failed()), v.criteria


# -- the script -------------------------------------------------------------------------------


def test_only_rejects_unknown_names() -> None:
    assert demos.selected("news, pptx,news") == ["news", "pptx"]
    assert demos.selected(None) == list(demos.DEMOS)
    with pytest.raises(SystemExit):
        demos.selected("news,weather")


def test_feed_server_serves_the_titles_and_counts() -> None:
    with demos.FeedServer() as feed:
        body = urllib.request.urlopen(feed.url, timeout=10).read().decode()
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(feed.base + "/other", timeout=10)
        assert feed.hits == 1
    assert all(t in body for t in demos.TITLES) and "<rss" in body


def test_table_has_a_column_per_model() -> None:
    base = {"steps": 2, "executions": 1, "wall_s": 3.2, "prompt_tokens": 900}
    results = {
        m: [{**base, "model": m, "demo": "news", "passed": m == "a", "completion_tokens": 200,
             "failed": [] if m == "a" else ["the feed was fetched"], "status": "done"}]
        for m in ("a", "b")
    }  # fmt: skip
    text = demos.table(results, ["news"])
    assert "PASS 2st 1ex 3s 1.1k tok" in text and "fail 2st" in text
    assert text.splitlines()[0].split() == ["demo", "a", "b"]
    assert "b / news: the feed was fetched [done]" in text


FETCH_AND_PRINT = """import urllib.request, xml.etree.ElementTree as ET
root = ET.fromstring(urllib.request.urlopen({url!r}, timeout=10).read())
for item in root.iter("item"):
    print(item.findtext("title"))"""


def test_news_demo_end_to_end_with_a_scripted_model(tmp_path: Path) -> None:
    with demos.FeedServer() as feed:
        script = tmp_path / "news.json"
        code = FETCH_AND_PRINT.format(url=feed.url)
        answer = "The headlines:\n" + "\n".join(f"- {t}" for t in demos.TITLES)
        script.write_text(json.dumps([f"```python\n{code}\n```", answer]))
        limits = demos.Limits(task_timeout=120, exec_timeout=30, max_steps=3)
        r = demos.run_demo(demos.DEMOS["news"], f"scripted:{script}", limits, feed, LiveProcesses())
    assert r["passed"], (r["criteria"], r["error"], r["exec_statuses"])
    assert r["info"]["feed_requests"] == 1 and r["info"]["titles_in_output"] == 5
    assert r["status"] == "done" and r["executions"] == 1 and r["completion_tokens"] > 0
    assert all(e["type"] != "text" for e in r["events"])
