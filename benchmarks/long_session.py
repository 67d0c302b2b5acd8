"""A long session: do later requests use the names made early, or re-create and invent them?

    python benchmarks/long_session.py --model local [--configs state,bare] [--fillers 30]
        [--rounds 1] [--out benchmarks/results/long_session.json] [--timeout 60] [--max-steps 4]

One session (the Python API, auto-run, the default sandbox) gets 44 requests by default: six
that make names (a DataFrame ``sales`` read from a CSV the script writes, a column, a function
``discount``, a summary frame ``by_region``, a number ``n_rows``, a fitted line
``trend``), then fillers that have nothing to do with them (small sums and string tasks, so the
early turns leave the window of a small model), with requests that use the early names mixed
in and at the end. For each of those the turn's code is read:

- ``reused``: it uses the name and never assigns or defines it again, and it ran cleanly;
- ``recreated``: it assigns the name again (``sales = pd.read_csv(...)``, ``def discount``);
- ``invented``: it fails with a NameError, or never mentions the name at all;
- ``no_code``: the model answered without code.

Each config runs the same requests in a fresh session, one after the other: ``state`` (what the
kernel holds is in the model's system prompt, and older turns are sent as a digest when they
no longer fit: both defaults), ``no-state`` (``--no-kernel-state``), ``no-compact``
(``--no-compact``: the oldest turns are dropped) and ``bare`` (neither). The report gives the
counts, the share reused, the median tokens per request and the median seconds per request of
each, in one run; ``--rounds N`` runs every config N times, interleaved (the small models'
replies vary from run to run), and adds the reused count of each round. ``--model scripted``
checks the plumbing: its replies reuse every name, so every use counts as reused.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from statistics import median
from typing import Any

from loci.approval import auto_approve
from loci.config import Settings, load_settings
from loci.events import CodeBlock, ExecutionDone, TurnDone
from loci.models.scripted import ScriptedModel
from loci.session import Session

ROOT = Path(__file__).resolve().parent.parent

MAKE = [
    ("sales", "Load sales.csv into a pandas DataFrame named sales and print its shape."),
    ("revenue", "Add a column named revenue to sales: price times units. Print its sum."),
    ("discount", "Define a Python function discount(x) that returns x * 0.9."),
    (
        "by_region",
        "Make a DataFrame named by_region with the total revenue of each region in sales. "
        "Print it.",
    ),
    ("n_rows", "Store the number of rows of sales in a variable named n_rows."),
    (
        "trend",
        "Fit a straight line of revenue against month in sales with numpy.polyfit and keep "
        "its coefficients in a variable named trend.",
    ),
]
USE = [
    ("sales", "What is the mean price in sales?"),
    ("discount", "Apply discount to 250 and print the result."),
    ("by_region", "Which region has the highest total in by_region?"),
    ("n_rows", "Print n_rows times 3."),
    ("revenue", "What is the largest revenue in sales?"),
    ("trend", "What is the slope in trend?"),
    ("sales", "How many rows of sales have units above 5?"),
    ("discount", "Use discount on the largest revenue in sales and print it."),
]
CONFIGS = {  # name: (the kernel-state summary, compaction)
    "state": (True, True),
    "no-state": (False, True),
    "no-compact": (True, False),
    "bare": (False, False),
}
FILLERS = [
    "What is 17 * 23?",
    "Reverse the string 'interpreter' and print it.",
    "How many days are there in 3 weeks?",
    "Print the first 8 square numbers.",
    "What is 2 to the power 20?",
    "Print the word 'loci' in upper case.",
    "What is the sum of the numbers from 1 to 100?",
    "How many letters are in 'benchmark'?",
]


@dataclass
class Step:
    """One request of the session and what its turn did."""

    kind: str  # make | use | filler
    name: str
    text: str
    codes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    status: str = ""
    tokens: int = 0
    seconds: float = 0.0
    verdict: str = ""
    round: int = 1


def requests(fillers: int) -> list[tuple[str, str, str]]:
    """(kind, name, text) in order: the names made, then fillers with uses mixed in."""
    out = [("make", name, text) for name, text in MAKE]
    uses = list(USE)
    for n in range(fillers):
        out.append(("filler", "", FILLERS[n % len(FILLERS)]))
        if n % 6 == 5 and uses:
            out.append(("use", *uses.pop(0)))
    out += [("use", *u) for u in uses]
    return out


def write_data(folder: Path) -> None:
    """sales.csv: 60 rows of month, region, price, units (a fixed pattern, no randomness)."""
    regions = ["north", "south", "east", "west"]
    with (folder / "sales.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["month", "region", "price", "units"])
        for i in range(60):
            w.writerow([i % 12 + 1, regions[i % 4], 10 + (i * 7) % 23, 1 + (i * 5) % 9])


_COMMENT = re.compile(r"#[^\n]*")


def verdict(step: Step) -> str:
    """How a ``use`` turn treated its name (see the module docstring)."""
    if not step.codes:
        return "no_code"
    code = _COMMENT.sub("", "\n".join(step.codes))  # a name in a comment is not a use
    name = re.escape(step.name)
    if re.search(rf"^\s*(?:{name}\s*=[^=]|def\s+{name}\b)", code, re.M) or (
        step.name == "revenue" and re.search(r"\[['\"]revenue['\"]\]\s*=[^=]", code)
    ):
        return "recreated"
    if any(e.startswith("NameError") for e in step.errors) or not re.search(rf"\b{name}\b", code):
        return "invented"
    return "reused" if step.status == "ok" else "invented"


def run_config(
    config: str, settings: Settings, steps: list[tuple[str, str, str]], round_: int = 1
) -> list[Step]:
    """One fresh session through every request."""
    model = _scripted(steps) if settings.model == "scripted" else None
    done: list[Step] = []
    with Session(settings, model=model, approver=auto_approve) as session:
        for kind, name, text in steps:
            step = Step(kind, name, text, round=round_)
            start = time.monotonic()
            for ev in session.run(text):
                if isinstance(ev, CodeBlock):
                    step.codes.append(ev.code)
                elif isinstance(ev, ExecutionDone):
                    step.status = ev.status
                    if ev.error_name:
                        step.errors.append(f"{ev.error_name}: {ev.error_value}")
                elif isinstance(ev, TurnDone):
                    step.tokens = ev.usage.prompt_tokens + ev.usage.completion_tokens
            step.seconds = time.monotonic() - start
            if kind == "use":
                step.verdict = verdict(step)
            done.append(step)
            where = f"{config} round {round_}"
            print(f"[{where}] {len(done)}/{len(steps)} {kind} {name} {step.verdict}", flush=True)
    return done


def _scripted(steps: list[tuple[str, str, str]]) -> ScriptedModel:
    """Replies that make and reuse the names as a perfect model would (plumbing check)."""
    code = {
        "sales": "import pandas as pd\nsales = pd.read_csv('sales.csv')\nprint(sales.shape)",
        "revenue": "sales['revenue'] = sales.price * sales.units\nprint(sales.revenue.sum())",
        "discount": "def discount(x):\n    return x * 0.9",
        "by_region": "by_region = sales.groupby('region').revenue.sum().to_frame()\n"
        "print(by_region)",
        "n_rows": "n_rows = len(sales)",
        "trend": "import numpy as np\ntrend = np.polyfit(sales.month, sales.revenue, 1)",
    }
    use = {
        "sales": "print(sales.price.mean())",
        "discount": "print(discount(250))",
        "by_region": "print(by_region.revenue.idxmax())",
        "n_rows": "print(n_rows * 3)",
        "revenue": "print(sales.revenue.max())",
        "trend": "print(trend[0])",
    }
    model = ScriptedModel()
    for kind, name, _text in steps:
        source = code[name] if kind == "make" else use.get(name, "print(1)")
        model.enqueue(f"```python\n{source}\n```")
        model.enqueue("Done.")
    return model


def report(results: dict[str, list[Step]]) -> dict[str, Any]:
    """Counts and medians per config."""
    out: dict[str, Any] = {}
    for config, steps in results.items():
        uses = [s for s in steps if s.kind == "use"]
        counts = Counter(s.verdict for s in uses)
        rounds = sorted({s.round for s in steps})
        out[config] = {
            "requests": len(steps),
            "uses": len(uses),
            "verdicts": dict(counts),
            "reused_share": counts["reused"] / len(uses) if uses else 0.0,
            "reused_per_round": [
                sum(1 for s in uses if s.round == r and s.verdict == "reused") for r in rounds
            ],
            "median_tokens": median(s.tokens for s in steps),
            "median_seconds": round(median(s.seconds for s in steps), 2),
            "steps": [asdict(s) for s in steps],
        }
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--model", default="local", help="loci model spec, or 'scripted'")
    p.add_argument("--configs", default="state,bare", help=", ".join(CONFIGS))
    p.add_argument("--fillers", type=int, default=30)
    p.add_argument("--timeout", type=float, default=60)
    p.add_argument("--max-steps", type=int, default=4)
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/long_session.json")
    p.add_argument("--rescore", type=Path, help="judge the steps of a saved report again")
    p.add_argument(
        "--rounds", type=int, default=1, help="run every config this many times, interleaved"
    )
    args = p.parse_args(argv)
    if args.rescore:
        saved = json.loads(args.rescore.read_text())
        results = {c: [Step(**step) for step in r["steps"]] for c, r in saved.items()}
        for steps_of in results.values():
            for step in steps_of:
                step.verdict = verdict(step) if step.kind == "use" else ""
        return _print(report(results))
    steps = requests(args.fillers)
    results: dict[str, list[Step]] = {}
    runs = [(r, c) for r in range(1, args.rounds + 1) for c in args.configs.split(",")]
    for round_, config in runs:
        with tempfile.TemporaryDirectory(prefix="loci-long-") as tmp:
            work = Path(tmp) / "work"
            work.mkdir()
            write_data(work)
            base = load_settings(
                {"workdir": work, "timeout": args.timeout, "max_steps": args.max_steps}
            )
            state, compact = CONFIGS[config]
            settings = replace(
                base, model=args.model, auto_run=True, kernel_state=state, compact=compact
            )
            results.setdefault(config, []).extend(run_config(config, settings, steps, round_))
    summary = report(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=1) + "\n")
    return _print(summary)


def _print(summary: dict[str, Any]) -> int:
    print()
    for config, r in summary.items():
        print(
            f"{config:<10} uses={r['uses']} {r['verdicts']} reused={r['reused_share']:.0%} "
            f"per round={r.get('reused_per_round', '?')} "
            f"median tokens/request={r['median_tokens']:,.0f} "
            f"median s/request={r['median_seconds']}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
