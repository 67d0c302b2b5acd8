"""Send benchmark prompts through loci and score the replies.

    python benchmarks/run_bench.py dabench|gsmhard --model SPEC [--bench-dir ../shared/bench]
        [--ids 0,5,...|FILE] [--sample N --seed S] [--limit N] [--task-timeout 240]
        [--exec-timeout 60] [--max-steps 6] [--jobs 1] [--out benchmarks/results/NAME]
        [--extra-arg ARG ...] [--questions FILE]

Prompts come from the bench folder's ``score.py SET prompts`` (the dabench prompt names the CSV
by its absolute path in the bench folder; nothing is copied). Each task is a fresh conversation:
``loci --json -y -m SPEC --workdir TMP ... PROMPT`` in a new temporary working directory, killed
(with its process tree) after ``--task-timeout`` seconds. From its JSON events one record per
task is kept; the reply scored is every ``model_done`` text of the turn joined, so an answer
written in any step counts (the scorer takes the last ``@name[...]``).

``--questions FILE`` (dabench): the questions of FILE instead, in the bench folder's format, with
a ``language`` field (``zh``: a translation of some dev questions, same ids, files and answer
format); the prompt is then written in that language too, and the summary says how many
replies were in it. The labels are the bench folder's.

The out dir holds ``run.json`` (settings), ``records.jsonl``, ``responses.jsonl``, ``ids.txt``,
``score.json`` (and ``details.jsonl`` for dabench) and ``home/`` (the LOCI_HOME of the run:
``LOCI_HOME=OUT/home loci show ID`` replays a task). A rerun skips ids already in records.jsonl.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path
from statistics import median
from typing import Any

from _runner import (
    ROOT,
    LiveProcesses,
    Record,
    loci_args,
    loci_command,
    make_record,
    run_process,
    safe_name,
    task_env,
)

DEFAULT_BENCH = ROOT.parent / "shared" / "bench"
SETS = ("dabench", "gsmhard")


@dataclass
class Task:
    """One prompt of the set."""

    id: int
    prompt: str


# -- inputs -----------------------------------------------------------------------------------


def parse_ids(text: str) -> list[int]:
    """Ids as a comma/space list, or the path of a file holding such a list."""
    path = Path(text)
    if path.is_file():
        text = path.read_text(encoding="utf-8")
    return [int(x) for x in text.replace(",", " ").split()]


def load_prompts(bench: Path, name: str) -> dict[int, Task]:
    """Every prompt of the set, from the bench folder's own ``score.py``."""
    done = subprocess.run(
        [sys.executable, str(bench / "score.py"), name, "prompts"],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"score.py {name} prompts failed: {done.stderr.strip()}")
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    return {int(r["id"]): Task(int(r["id"]), r["prompt"]) for r in rows}


# the scorer's dabench prompt, in the languages of translated question files
PROMPTS = {
    "zh": (
        "给你一个数据文件：{path}\n请用代码分析它并回答问题。\n\n问题：{question}\n\n"
        "约束：{constraints}\n\n答案格式：{format}\n\n完成后，在回复末尾写出最终答案，"
        "每个答案都严格按上面的格式写成 @answer_name[value]（方括号内不要有多余文字）。"
    ),
}


def translated_prompts(bench: Path, questions: Path) -> tuple[dict[int, Task], str]:
    """The tasks of a translated question file, and its language."""
    rows = read_jsonl(questions)
    language = rows[0].get("language", "") if rows else ""
    if language not in PROMPTS:
        raise SystemExit(f"{questions}: language {language!r} has no prompt ({', '.join(PROMPTS)})")
    tables = bench / "dabench" / "tables"
    tasks = {
        int(q["id"]): Task(
            int(q["id"]),
            PROMPTS[language].format(
                path=tables / q["file_name"],
                question=q["question"].strip(),
                constraints=q["constraints"].strip(),
                format=q["format"].strip(),
            ),
        )
        for q in rows
    }
    return tasks, language


_CJK = re.compile(r"[\u4e00-\u9fff]")
_ANSWERS = re.compile(r"@\w+\[[^\]]*\]")
_CODE = re.compile(r"```.*?(?:```|$)", re.S)


def in_language(text: str, language: str) -> bool:
    """Whether a reply's prose (its code blocks, comments included, and @name[value] answers
    left out) is written in ``language``."""
    prose = _ANSWERS.sub("", _CODE.sub("", text))
    return language == "zh" and bool(_CJK.search(prose))


def select_ids(all_ids: list[int], args: argparse.Namespace) -> list[int]:
    """Apply --ids, then --sample/--seed, then --limit (order kept, duplicates dropped)."""
    ids = parse_ids(args.ids) if args.ids else sorted(all_ids)
    unknown = sorted(set(ids) - set(all_ids))
    if unknown:
        raise SystemExit(f"unknown ids for {args.set}: {unknown[:10]}")
    ids = list(dict.fromkeys(ids))
    if args.sample is not None:
        ids = sorted(random.Random(args.seed).sample(ids, min(args.sample, len(ids))))
    if args.limit is not None:
        ids = ids[: args.limit]
    return ids


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The objects of a JSONL file ([] when it does not exist); a torn last line is skipped."""
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


# -- running one task -------------------------------------------------------------------------


class Runner:
    """Runs tasks as ``loci`` subprocesses; remembers the live ones so Ctrl-C can kill them."""

    def __init__(self, args: argparse.Namespace, out: Path) -> None:
        self.args = args
        self.out = out
        self.env = task_env(out)
        self.live = LiveProcesses()

    def command(self, task: Task, workdir: Path) -> list[str]:
        """The loci command line for one task."""
        a = self.args
        return loci_args(a.model, workdir, a.max_steps, a.exec_timeout, a.extra_arg, task.prompt)

    def run(self, task: Task) -> Record:
        """Run one task in a fresh temporary working directory."""
        with tempfile.TemporaryDirectory(prefix=f"loci-{self.args.set}-{task.id}-") as wd:
            cmd = self.command(task, Path(wd))
            done = run_process(cmd, Path(wd), self.env, self.args.task_timeout, self.live)
        return make_record(task.id, done.stdout, done.stderr, done.code, done.wall, done.timed_out)

    def kill_all(self) -> None:
        """Kill every task still running (after Ctrl-C)."""
        self.live.kill_all()


# -- the run ----------------------------------------------------------------------------------


def default_out(name: str, model: str) -> Path:
    """``benchmarks/results/SET-MODEL`` with the model spec made file-name safe."""
    return ROOT / "benchmarks" / "results" / f"{name}-{safe_name(model)}"


def save(out: Path, rec: Record, lock: threading.Lock) -> None:
    """Append a task's response, then its record (a record implies its response is saved)."""
    with lock:
        with (out / "responses.jsonl").open("a", encoding="utf-8") as f:
            f.write(json.dumps({"id": rec.id, "response": rec.response}, ensure_ascii=False) + "\n")
        with (out / "records.jsonl").open("a", encoding="utf-8") as f:
            f.write(json.dumps(asdict(rec), ensure_ascii=False) + "\n")


def progress(n: int, total: int, rec: Record) -> None:
    """One line per finished task."""
    print(
        f"[{n}/{total}] id={rec.id} {rec.status} steps={rec.steps} execs={rec.executions} "
        f"tok={rec.prompt_tokens}/{rec.completion_tokens} {rec.wall_s:.1f}s",
        flush=True,
    )


def run_tasks(runner: Runner, tasks: list[Task], jobs: int) -> None:
    """Run the tasks (``jobs`` at a time), saving each record as it finishes."""
    lock = threading.Lock()
    pool = ThreadPoolExecutor(max_workers=jobs)
    try:
        futures = {pool.submit(runner.run, t): t for t in tasks}
        for n, fut in enumerate(as_completed(futures), 1):
            rec = fut.result()
            save(runner.out, rec, lock)
            progress(n, len(tasks), rec)
    except KeyboardInterrupt:
        print("\ninterrupted: killing running tasks (finished ones are saved)", file=sys.stderr)
        pool.shutdown(wait=False, cancel_futures=True)
        runner.kill_all()
        raise
    pool.shutdown(wait=True)


# -- scoring and summary ----------------------------------------------------------------------


def score(
    bench: Path, name: str, out: Path, ids: list[int], responses: str = "responses"
) -> dict[str, Any]:
    """Run the bench folder's scorer on RESPONSES.jsonl for ``ids``; save score.json (for
    other responses, score_RESPONSES.json)."""
    (out / "ids.txt").write_text(",".join(map(str, ids)) + "\n", encoding="utf-8")
    cmd = [
        sys.executable,
        str(bench / "score.py"),
        name,
        "score",
        str(out / f"{responses}.jsonl"),
        "--ids",
        str(out / "ids.txt"),
        "--json",
    ]
    tag = "" if responses == "responses" else f"_{responses}"
    if name == "dabench":
        cmd += ["--details", str(out / f"details{tag}.jsonl")]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"score.py failed: {done.stderr.strip()}")
    result: dict[str, Any] = json.loads(done.stdout)
    (out / f"score{tag}.json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return result


def score_first(
    bench: Path, name: str, out: Path, ids: list[int], records: list[dict[str, Any]]
) -> str:
    """With --effort above 1, the score of each task's first attempt alone (what the run
    would have answered without the vote), from the same run; "" without a vote."""
    voted = [r for r in records if r.get("vote")]
    if not voted:
        return ""
    with (out / "first.jsonl").open("w", encoding="utf-8") as f:
        for r in records:
            row = {"id": r["id"], "response": r.get("first_response") or r["response"]}
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    first = score(bench, name, out, ids, "first")
    changed = sum(1 for r in voted if r["vote"]["attempt"] != 1)
    lines = [f"  {line}" for line in score_lines(name, first)]
    return "\n".join(
        [
            f"first attempt alone (the same run; {len(voted)} votes, {changed} kept another):",
            *lines,
        ]
    )


def solved_count(name: str, result: dict[str, Any]) -> float:
    """How many tasks the scorer counts as solved (ABQ for dabench, accuracy for gsmhard)."""
    if name == "dabench":
        s = result["strict"]
        return float(s["ABQ"] * s["questions"])
    return float(result["accuracy"] * result["questions"])


def score_lines(name: str, result: dict[str, Any]) -> list[str]:
    """The scorer's figures, as text."""
    if name == "gsmhard":
        return [
            f"gsmhard accuracy={result['accuracy']:.2%} questions={result['questions']} "
            f"answered={result['answered']}"
        ]
    s, a = result["strict"], result["answered"]
    lines = [f"dabench questions={s['questions']} answered={a['questions']}"]
    for label, m in (("strict", s), ("answered", a)):
        lines.append(f"  {label:<8} ABQ={m['ABQ']:.2%} PSAQ={m['PSAQ']:.2%} UASQ={m['UASQ']:.2%}")
    for level, m in result.get("by_level", {}).items():
        lines.append(f"  {level:<8} n={m['questions']:3d} ABQ={m['ABQ']:.2%}")
    return lines


def _med(values: Iterable[float]) -> float:
    xs = list(values)
    return float(median(xs)) if xs else float("nan")


def summary(
    name: str, result: dict[str, Any], records: list[dict[str, Any]], language: str = ""
) -> str:
    """The scorer's figures plus steps, tokens, time and statuses over ``records`` (and with
    ``language``, how many replies were written in it)."""
    solved = solved_count(name, result)
    tokens = sum(r["prompt_tokens"] + r["completion_tokens"] for r in records)
    per_solved = f"{tokens / solved:,.0f}" if solved else "n/a (none solved)"
    statuses = Counter(r["status"] for r in records)
    lines = [
        *score_lines(name, result),
        f"tasks={len(records)} solved={solved:g}",
        f"median steps={_med(r['steps'] for r in records):g} "
        f"executions={_med(r['executions'] for r in records):g}",
        f"median tokens in={_med(r['prompt_tokens'] for r in records):,.0f} "
        f"out={_med(r['completion_tokens'] for r in records):,.0f}",
        f"median wall={_med(r['wall_s'] for r in records):.1f}s "
        f"total={sum(r['wall_s'] for r in records):.0f}s",
        f"tokens per solved task={per_solved} (total {tokens:,})",
        "statuses: " + ", ".join(f"{k}={v}" for k, v in statuses.most_common()),
    ]
    if language:
        answered = [r for r in records if r["response"].strip()]
        hits = sum(in_language(r["response"], language) for r in answered)
        lines.append(f"replies in {language}: {hits} of {len(answered)}")
    return "\n".join(lines)


# -- main -------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The command-line options."""
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("set", choices=SETS)
    p.add_argument("--model", required=True, help="loci model spec, e.g. local, openai:NAME")
    p.add_argument("--bench-dir", type=Path, default=DEFAULT_BENCH)
    p.add_argument("--ids", help="ids as a comma/space list, or a file of them")
    p.add_argument("--sample", type=int, help="run a random sample of N of the ids")
    p.add_argument("--seed", type=int, default=0, help="seed for --sample")
    p.add_argument("--limit", type=int, help="run at most the first N ids")
    p.add_argument("--task-timeout", type=float, default=240.0, help="seconds per task")
    p.add_argument("--exec-timeout", type=float, default=60.0, help="seconds per execution")
    p.add_argument("--max-steps", type=int, default=6, help="code rounds per task")
    p.add_argument("--jobs", type=int, default=1, help="tasks run in parallel")
    p.add_argument("--out", type=Path, help="results folder (default benchmarks/results/SET-MODEL)")
    p.add_argument("--questions", type=Path, help="a translated dabench question file (JSONL)")
    p.add_argument(
        "--extra-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="extra argument for loci (repeat it: --extra-arg=--tools --extra-arg=off)",
    )
    return p


def write_run_info(out: Path, args: argparse.Namespace, ids: list[int]) -> None:
    """Record the settings of this run (appended to run.json's history of invocations)."""
    path = out / "run.json"
    history = json.loads(path.read_text(encoding="utf-8")) if path.exists() else []
    info = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    info.update(when=time.strftime("%Y-%m-%dT%H:%M:%S"), ids=ids, command=loci_command())
    path.write_text(json.dumps([*history, info], indent=1) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    """Select the tasks, run the ones not yet done, score and summarise."""
    args = build_parser().parse_args(argv)
    bench = args.bench_dir.resolve()
    if not (bench / "score.py").is_file():
        raise SystemExit(f"no score.py in {bench} (pass --bench-dir)")
    language = ""
    if args.questions:
        prompts, language = translated_prompts(bench, args.questions.resolve())
    else:
        prompts = load_prompts(bench, args.set)
    ids = select_ids(list(prompts), args)
    out = (args.out or default_out(args.set, args.model)).resolve()
    out.mkdir(parents=True, exist_ok=True)
    write_run_info(out, args, ids)
    done_ids = {int(r["id"]) for r in read_jsonl(out / "records.jsonl")}
    todo = [prompts[i] for i in ids if i not in done_ids]
    print(
        f"{args.set}: {len(ids)} ids, {len(ids) - len(todo)} already done, "
        f"{len(todo)} to run -> {out}",
        flush=True,
    )
    try:
        run_tasks(Runner(args, out), todo, max(1, args.jobs))
    except KeyboardInterrupt:
        return 130
    latest = {int(r["id"]): r for r in read_jsonl(out / "records.jsonl")}
    records = [latest[i] for i in ids if i in latest]
    result = score(bench, args.set, out, ids)
    print()
    print(summary(args.set, result, records, language))
    if first := score_first(bench, args.set, out, ids, records):
        print(first)
    return 0


if __name__ == "__main__":
    sys.exit(main())
