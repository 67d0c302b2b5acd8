"""How often grounding flags a correct benchmark answer: the old rule against the new.

    python benchmarks/grounding_rate.py OUT [--bench-dir DIR] [--show 10] [--json]

OUT is a ``run_bench.py`` out dir. Each task is matched to its conversation in
``OUT/home/history.db`` by its reply (``responses.jsonl`` holds the conversation's assistant
texts joined, as run_bench builds it), and by its prompt when several tasks got the same
reply (prompts from the bench folder's ``score.py``, when it is there). Correctness comes
from ``details.jsonl`` (dabench: every sub-answer right) or, for gsmhard, from that
``score.py``. For each task with a final answer (its last reply without a tool call),
``ground`` is run again on it:

- old rule: the text of the outputs of the turn's executions before the answer, as loci took
  it before (``o.text or o.data`` of every output but errors);
- literals rule (stop 15): ``Evidence`` of those outputs (``output_texts``), the data literals
  of the code that showed something (``shown_literals``) and the preview of the request's
  files (taken from the stored request; rebuilt from the files it names when the request has
  none);
- new rule, loci's now: the same, less the numbers each execution's code typed itself
  (``shown_outputs``: ``print(42)`` backs no 42).

A correct answer with an unsupported number is a false flag, unless no block before it ran ok:
then it is a guess that came true, and the flag was right (counted apart); among incorrect
answers the script counts those with unsupported numbers (flags that were right to warn).
``stored`` ("as run") counts the answers that carried a flag as the run recorded it.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from run_bench import DEFAULT_BENCH, load_prompts, read_jsonl

from loci.events import Grounding
from loci.files import describe_files, mentioned_files
from loci.grounding import Evidence, ground, output_texts, shown_literals, shown_outputs
from loci.prompts import PREVIEW_NOTE
from loci.store import Store
from loci.store.records import ConversationRecord, ExecutionRecord, Item, MessageRecord


@dataclass(frozen=True)
class Answer:
    """One conversation's final answer and what could back it."""

    text: str
    request: str
    old: tuple[str, ...]  # outputs as the old rule read them
    literals: Evidence  # outputs, shown data literals and the file preview
    new: Evidence  # the same, less the numbers code typed (loci's rule)
    stored: Grounding | None  # as the run recorded it
    ran_ok: bool  # a block before it ran ok (else a right answer is a guess that came true)


@dataclass
class Tally:
    """Answers of one kind (correct or not) and how many each rule flagged."""

    answers: int = 0
    judged: int = 0  # with at least one number grounding judges
    old: int = 0
    literals: int = 0
    new: int = 0
    stored: int = 0
    guesses: int = 0  # flagged by the new rule, and no block before the answer ran ok
    flagged_new: list[dict[str, Any]] = field(default_factory=list)

    def add(self, task_id: int, answer: Answer) -> None:
        """Count ``answer`` under each rule."""
        old = ground(answer.text, answer.old, answer.request)
        self.literals += bool(ground(answer.text, answer.literals, answer.request).unsupported)
        new = ground(answer.text, answer.new, answer.request)
        self.answers += 1
        self.judged += bool(old.supported or old.unsupported)
        self.old += bool(old.unsupported)
        self.new += bool(new.unsupported)
        self.stored += bool(answer.stored and answer.stored.unsupported)
        if new.unsupported:
            self.guesses += not answer.ran_ok
            flag = {"id": task_id, "unsupported": list(new.unsupported), "ran_ok": answer.ran_ok}
            self.flagged_new.append(flag)


def split_request(content: str, workdir: str) -> tuple[str, str]:
    """The request as the person wrote it, and the file preview the model was shown."""
    marker = f"\n\n{PREVIEW_NOTE}\n"
    if marker in content:
        request, preview = content.split(marker, 1)
        return request, preview
    return content, describe_files(mentioned_files(content, Path(workdir)))


def last_turn(record: ConversationRecord) -> tuple[MessageRecord, list[Item]] | None:
    """The person's last request in ``record`` and the items that followed it."""
    items = list(record.items)
    for i in range(len(items) - 1, -1, -1):
        item = items[i]
        if isinstance(item, MessageRecord) and item.message.by == "person":
            return item, items[i + 1 :]
    return None


def asked_of(record: ConversationRecord) -> str:
    """The text of the person's last request in ``record`` (without the file preview)."""
    found = last_turn(record)
    return split_request(found[0].content, "")[0].strip() if found else ""


def final_answer(record: ConversationRecord) -> Answer | None:
    """The last turn's final answer (its last reply without a tool call) and the evidence
    of the executions before it; None if the turn has no such reply."""
    found = last_turn(record)
    if found is None:
        return None
    asked, after = found
    ends = [i for i, it in enumerate(after) if _is_answer(it)]
    if not ends:
        return None
    reply = after[ends[-1]]
    assert isinstance(reply, MessageRecord)
    runs = [it for it in after[: ends[-1]] if isinstance(it, ExecutionRecord)]
    request, preview = split_request(asked.content, record.summary.workdir)
    old = tuple(o.text or o.data for r in runs for o in r.outputs if o.stream != "error")
    literals = [
        n for r in runs for n in shown_literals(r.language, r.code, r.status, r.outputs, r.files)
    ]
    outputs = tuple(t for r in runs for t in output_texts(r.outputs))
    computed = tuple(t for r in runs for t in shown_outputs(r.language, r.code, r.outputs).texts)
    return Answer(
        reply.content,
        request,
        old,
        Evidence(outputs, literals, preview),
        Evidence(computed, literals, preview),
        reply.grounding,
        any(r.status == "ok" for r in runs),
    )


def _is_answer(item: Item) -> bool:
    return (
        isinstance(item, MessageRecord) and item.role == "assistant" and not item.message.tool_calls
    )


def replies_key(record: ConversationRecord) -> str:
    """The conversation's assistant texts joined as run_bench joins ``model_done`` texts."""
    texts = [m.content for m in record.messages if m.role == "assistant"]
    return "\n\n".join(t for t in texts if t)


def answers_by_reply(store: Store) -> dict[str, list[ConversationRecord]]:
    """Every conversation of ``store``, keyed by its joined replies."""
    found: dict[str, list[ConversationRecord]] = {}
    for summary in store.list_conversations(limit=1_000_000):
        record = store.get_conversation(summary.id)
        found.setdefault(replies_key(record), []).append(record)
    return found


def correct_ids(out: Path, name: str, bench: Path) -> dict[int, bool]:
    """Task id -> whether its answer was scored right (every sub-answer, for dabench)."""
    if name == "dabench":
        return {int(r["id"]): bool(r["all"]) for r in read_jsonl(out / "details.jsonl")}
    spec = importlib.util.spec_from_file_location("bench_score", bench / "score.py")
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {bench / 'score.py'}")
    scorer: Any = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(scorer)
    data = scorer.gsm_load(str(bench / "gsmhard"))
    right: dict[int, bool] = {}
    for row in read_jsonl(out / "responses.jsonl"):
        task_id = int(row["id"])
        pred = scorer.gsm_prediction(row.get("response") or "")
        target = float(data[task_id]["target"]) if task_id in data else None
        right[task_id] = pred is not None and target is not None and abs(pred - target) < 1e-3
    return right


def run_settings(out: Path) -> dict[str, Any]:
    """The last invocation recorded in ``run.json`` ({} when there is none)."""
    path = out / "run.json"
    if not path.exists():
        return {}
    history = json.loads(path.read_text(encoding="utf-8"))
    return dict(history[-1]) if history else {}


@dataclass
class Report:
    """The counts over one run directory."""

    tasks: int = 0
    unmatched: list[int] = field(default_factory=list)  # no single conversation with its reply
    no_answer: list[int] = field(default_factory=list)  # the turn ended without a final reply
    correct: Tally = field(default_factory=Tally)
    incorrect: Tally = field(default_factory=Tally)


def measure(out: Path, bench: Path | None = None) -> Report:
    """Ground every scored task of the run in ``out`` under both rules."""
    settings = run_settings(out)
    name = str(
        settings.get("set") or ("dabench" if (out / "details.jsonl").exists() else "gsmhard")
    )
    bench = bench or Path(settings.get("bench_dir") or DEFAULT_BENCH)
    right = correct_ids(out, name, bench)
    responses = {
        int(r["id"]): str(r.get("response") or "") for r in read_jsonl(out / "responses.jsonl")
    }
    db = out / "home" / "history.db"
    if not db.exists():
        raise SystemExit(f"no {db}: is {out} a run_bench.py out dir?")
    prompts = load_prompts(bench, name) if (bench / "score.py").is_file() else {}
    report = Report()
    with Store(db) as store:
        convs = answers_by_reply(store)
    for task_id in sorted(right):
        report.tasks += 1
        matches = convs.get(responses.get(task_id, ""), []) if responses.get(task_id) else []
        if len(matches) > 1 and task_id in prompts:  # the same reply to several tasks
            matches = [m for m in matches if asked_of(m) == prompts[task_id].prompt.strip()]
        if len(matches) != 1:
            report.unmatched.append(task_id)
            continue
        answer = final_answer(matches[0])
        if answer is None:
            report.no_answer.append(task_id)
            continue
        (report.correct if right[task_id] else report.incorrect).add(task_id, answer)
    return report


def _share(n: int, total: int) -> str:
    return f"{n} ({n / total:.1%})" if total else f"{n}"


def _rates(t: Tally) -> str:
    return (
        f"old {_share(t.old, t.answers)}, literals {_share(t.literals, t.answers)}, "
        f"new {_share(t.new, t.answers)}, as run {t.stored}"
    )


def summary(report: Report, show: int) -> str:
    """The report as text: rates, then the correct answers the new rule still flags."""
    c, w = report.correct, report.incorrect
    lines = [
        f"tasks={report.tasks} unmatched={len(report.unmatched)} "
        f"no_final_answer={len(report.no_answer)}",
        f"correct answers={c.answers} (with judged numbers {c.judged}); false flags: {_rates(c)}",
        f"  of the new rule's, after no block ran ok (a guess that came true): {c.guesses}",
        f"incorrect answers={w.answers} (with judged numbers {w.judged}); flagged: {_rates(w)}",
    ]
    if c.flagged_new and show:
        lines.append("correct answers the new rule flags:")
        lines += [
            f"  id={f['id']} unsupported {', '.join(f['unsupported'])}"
            + ("" if f["ran_ok"] else " (no block ran ok)")
            for f in c.flagged_new[:show]
        ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Measure one run directory and print the report."""
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("out", type=Path, help="a run_bench.py out dir")
    p.add_argument("--bench-dir", type=Path, help="default: the run's, from run.json")
    p.add_argument("--show", type=int, default=10, help="flagged correct answers to list")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    args = p.parse_args(argv)
    report = measure(args.out.resolve(), args.bench_dir)
    print(json.dumps(asdict(report), indent=1) if args.json else summary(report, args.show))
    return 0


if __name__ == "__main__":
    sys.exit(main())
