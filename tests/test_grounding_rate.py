"""benchmarks/grounding_rate.py on a tiny run dir: two conversations in a real Store."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from loci.events import ExecStatus, ExecutionDone, Output
from loci.files import describe_files
from loci.grounding import ground
from loci.messages import Message, ToolCall
from loci.prompts import with_preview
from loci.store import Store

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import grounding_rate

PLOT = (
    'df = pd.DataFrame({"month": ["jan", "feb"], "sales": [1520.5, 1733.2]})\n'
    "df.plot()\nprint(df.sales.sum())\n"
)
FIGURE = Output("display", "iVBORw0KGgo=", mime="image/png", text="<Figure size 640x480>")


def add_task(store: Store, request: str, code: str, outputs: list[Output], answer: str,
             preview: str = "", status: ExecStatus = "ok") -> None:  # fmt: skip
    """One conversation: the request, one tool call that ran ``code``, the final answer."""
    conv = store.create_conversation(model="scripted", workdir="/gone")
    store.add_message(conv, Message("user", with_preview(request, preview)))
    store.add_message(conv, Message("assistant", "", (ToolCall("c1", "python", code),)))
    run = store.start_execution(conv, block_id="c1", language="python", code=code,
                                approved_by="auto")  # fmt: skip
    for out in outputs:
        store.add_output(run, out)
    store.finish_execution(run, ExecutionDone(run, status, 0.1))
    store.add_message(conv, Message("tool", "[ok]", tool_call_id="c1"))
    reply = store.add_message(conv, Message("assistant", answer))
    printed = [o.text or o.data for o in outputs if o.stream != "error"]
    store.set_grounding(reply, ground(answer, printed, request))  # as the run recorded it


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    out = tmp_path / "run"
    (out / "home").mkdir(parents=True)
    table = tmp_path / "sales.csv"
    table.write_text("month,sales\njan,1520.5\nfeb,1733.2\nmar,1801.9\n")
    asked = f"You are given a data file: {table}\nTotal and monthly sales?"
    answers = {
        0: "Sales went from 1520.5 to 1733.2, 3253.7 in all; March had 1801.9. @total[3253.7]",
        1: "The answer is 42. @answer[42]",
    }
    with Store(out / "home" / "history.db") as store:
        shown = [FIGURE, Output("stdout", "3253.7\n")]
        add_task(store, asked, PLOT, shown, answers[0], describe_files([table]))
        add_task(store, "What is six times seven?", "print(42)", [Output("stdout", "42\n")],
                 answers[1])  # fmt: skip
    lines = [json.dumps({"id": i, "response": a}) for i, a in answers.items()]
    (out / "responses.jsonl").write_text("\n".join(lines) + "\n")
    details = [{"id": 0, "all": True}, {"id": 1, "all": False}, {"id": 2, "all": True}]
    (out / "details.jsonl").write_text("".join(json.dumps(d) + "\n" for d in details))
    (out / "run.json").write_text(json.dumps([{"set": "dabench", "bench_dir": str(tmp_path)}]))
    return out


def test_false_flags_are_counted_under_each_rule(
    run_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert grounding_rate.main([str(run_dir), "--json"]) == 0
    report: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert report["tasks"] == 3 and report["unmatched"] == [2]  # id 2 has no reply
    correct, incorrect = report["correct"], report["incorrect"]
    # the literals that were plotted and the previewed file back it now; before, they did not
    assert (correct["answers"], correct["old"], correct["literals"], correct["new"]) == (1, 1, 0, 0)
    assert correct["stored"] == 1
    # a printed guess: an output to the old rules, typed (so flagged) to the new one
    assert (incorrect["answers"], incorrect["old"], incorrect["literals"]) == (1, 0, 0)
    assert (incorrect["new"], incorrect["stored"]) == (1, 0)
    assert incorrect["flagged_new"] == [{"id": 1, "unsupported": ["42"], "ran_ok": True}]


def test_a_right_answer_after_failed_code_is_a_guess_not_a_false_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    (out / "home").mkdir(parents=True)
    failed = [Output("error", "NameError: name 'df' is not defined")]
    with Store(out / "home" / "history.db") as store:
        add_task(store, "How many outliers?", "print(df.z.abs().gt(3).sum())", failed,
                 "@outliers_count[1] = 273", status="error")  # fmt: skip
    reply = {"id": 0, "response": "@outliers_count[1] = 273"}
    (out / "responses.jsonl").write_text(json.dumps(reply) + "\n")
    (out / "details.jsonl").write_text(json.dumps({"id": 0, "all": True}) + "\n")
    (out / "run.json").write_text(json.dumps([{"set": "dabench", "bench_dir": str(tmp_path)}]))
    grounding_rate.main([str(out)])
    text = capsys.readouterr().out
    assert "after no block ran ok (a guess that came true): 1" in text
    assert "id=0 unsupported 273 (no block ran ok)" in text


def test_the_text_report_names_the_rates(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    grounding_rate.main([str(run_dir)])
    text = capsys.readouterr().out
    assert "false flags: old 1 (100.0%), literals 0 (0.0%), new 0 (0.0%), as run 1" in text
    assert "flagged: old 0 (0.0%), literals 0 (0.0%), new 1 (100.0%), as run 0" in text


def test_gsmhard_correctness_comes_from_the_bench_scorer(tmp_path: Path) -> None:
    (tmp_path / "score.py").write_text(
        "def gsm_load(folder):\n    return {0: {'target': 42}, 1: {'target': 7}}\n"
        "def gsm_prediction(text):\n    return float(text) if text else None\n"
    )
    (tmp_path / "responses.jsonl").write_text('{"id": 0, "response": "42"}\n{"id": 1}\n')
    assert grounding_rate.correct_ids(tmp_path, "gsmhard", tmp_path) == {0: True, 1: False}


def test_tasks_with_the_same_reply_are_told_apart_by_their_prompt(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prompts = {0: "Twice 617?", 1: "Half of 2468?"}
    (tmp_path / "score.py").write_text(
        "import json\n"
        f"for i, p in {prompts!r}.items():\n"
        "    print(json.dumps({'id': i, 'prompt': p}))\n"
    )
    out = tmp_path / "run"
    (out / "home").mkdir(parents=True)
    with Store(out / "home" / "history.db") as store:
        add_task(store, prompts[0], "print(617 * 2)", [Output("stdout", "1234\n")], "@answer[1234]")
        add_task(store, prompts[1], "print(2468 // 2)", [], "@answer[1234]")
    (out / "responses.jsonl").write_text(
        "".join(json.dumps({"id": i, "response": "@answer[1234]"}) + "\n" for i in prompts)
    )
    (out / "details.jsonl").write_text(
        "".join(json.dumps({"id": i, "all": True}) + "\n" for i in prompts)
    )
    (out / "run.json").write_text(json.dumps([{"set": "dabench", "bench_dir": str(tmp_path)}]))
    grounding_rate.main([str(out), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert report["unmatched"] == []
    flagged = [{"id": 1, "unsupported": ["1234"], "ran_ok": True}]
    assert report["correct"]["flagged_new"] == flagged
