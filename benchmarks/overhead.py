"""Measure loci's own overhead, each figure against a baseline measured in the same run.

    python benchmarks/overhead.py [--repeat N] [--out benchmarks/results/overhead.json]

Three comparisons (medians over N repeats; ratio = loci / baseline; nothing is asserted):

  round trip      ``Session.run`` with a ScriptedModel and auto-approve, ``print(1)`` on a warm
                  kernel, from ``run()`` to TurnDone (two instant model calls, the store writes,
                  one execution) vs a bare jupyter_client ``execute_interactive("print(1)")``.
  execution       ExecutionStart → ExecutionDone inside that same turn vs the bare round trip.
  kernel start    ``JupyterKernel(...).start()`` + first execute vs ``start_new_kernel`` + first
                  ``execute_interactive``.
  CLI             ``loci --version`` and ``loci --json -y -m scripted:FILE "hi"`` (a reply with no
                  code: time to the first ``model_done`` line, and to exit) vs ``python -c pass``
                  and ``python -c "import loci"`` (plus ``import loci.cli.main``: what the
                  CLI's imports alone cost, so the rest is loci's own start-up work).

Every loci run uses a throw-away LOCI_HOME and working directory, so no history is touched.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "overhead.json"

Samples = list[float]


# -- helpers ---------------------------------------------------------------------------------


def median(xs: Samples) -> float:
    """The median, or NaN for no samples."""
    return statistics.median(xs) if xs else float("nan")


def _quiet(_msg: dict[str, Any]) -> None:
    """An ``output_hook`` that drops iopub messages (we only time the round trip)."""


@contextmanager
def scratch_home() -> Iterator[Path]:
    """A temporary directory set as LOCI_HOME for the duration (restored afterwards)."""
    old = os.environ.get("LOCI_HOME")
    with tempfile.TemporaryDirectory(prefix="loci-bench-") as tmp:
        os.environ["LOCI_HOME"] = tmp
        try:
            yield Path(tmp)
        finally:
            if old is None:
                os.environ.pop("LOCI_HOME", None)
            else:
                os.environ["LOCI_HOME"] = old


def loci_command() -> list[str]:
    """The ``loci`` console script next to this interpreter, else ``python -m loci.cli.main``."""
    script = Path(sys.executable).parent / "loci"
    return [str(script)] if script.exists() else [sys.executable, "-m", "loci.cli.main"]


# -- (a) round trip and execution cost on a warm kernel ---------------------------------------


def _bare_kernel(workdir: Path) -> tuple[Any, Any]:
    """A kernel started by jupyter_client alone (its chatter on stderr dropped)."""
    from jupyter_client.manager import start_new_kernel

    return start_new_kernel(kernel_name="python3", cwd=str(workdir), stderr=subprocess.DEVNULL)


def bare_round_trips(repeat: int, workdir: Path) -> Samples:
    """``execute_interactive("print(1)")`` on a warm kernel started by jupyter_client itself."""
    km, kc = _bare_kernel(workdir)
    try:
        kc.execute_interactive("print(0)", output_hook=_quiet, timeout=60)  # warm-up
        samples = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            kc.execute_interactive("print(1)", output_hook=_quiet, timeout=60)
            samples.append(time.perf_counter() - t0)
        return samples
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def _one_turn(session: Any, model: Any) -> tuple[float, float, str]:
    """Queue a ``print(1)`` reply and a plain answer; time the turn and its execution."""
    from loci.events import ExecutionDone, ExecutionStart, TurnDone

    model.enqueue("```python\nprint(1)\n```")
    model.enqueue("It printed 1.")
    exec_start = exec_end = 0.0
    status = "?"
    t0 = time.perf_counter()
    turn = 0.0
    for ev in session.run("print one"):
        now = time.perf_counter()
        if isinstance(ev, ExecutionStart):
            exec_start = now
        elif isinstance(ev, ExecutionDone):
            exec_end = now
        elif isinstance(ev, TurnDone):
            turn, status = now - t0, ev.status
    return turn, exec_end - exec_start, status


def session_round_trips(repeat: int, home: Path, workdir: Path) -> tuple[Samples, Samples]:
    """Turn times and ExecutionStart→ExecutionDone times through ``loci.session.Session``."""
    from loci.approval import auto_approve
    from loci.config import Settings
    from loci.models.scripted import ScriptedModel
    from loci.session import Session

    settings = Settings(home=home, workdir=workdir, auto_run=True, timeout=60.0)
    model = ScriptedModel(name="scripted")
    turns: Samples = []
    execs: Samples = []
    with Session(settings, model=model, approver=auto_approve) as session:
        _one_turn(session, model)  # warm-up: waits for the kernel to be up
        for _ in range(repeat):
            turn, execution, status = _one_turn(session, model)
            if status != "done":
                raise RuntimeError(f"session turn ended with status {status!r}")
            turns.append(turn)
            execs.append(execution)
    return turns, execs


# -- (b) kernel start -------------------------------------------------------------------------


def loci_kernel_starts(repeat: int, workdir: Path) -> Samples:
    """``JupyterKernel(workdir).start()`` and the first ``print(1)``, until its KernelResult."""
    from loci.events import KernelResult
    from loci.kernels.jupyter import JupyterKernel

    samples = []
    for _ in range(repeat):
        kernel = JupyterKernel(workdir)
        try:
            t0 = time.perf_counter()
            kernel.start()
            result = [ev for ev in kernel.execute("print(1)", timeout=60)][-1]
            samples.append(time.perf_counter() - t0)
            if not isinstance(result, KernelResult) or result.status != "ok":
                raise RuntimeError(f"first execute failed: {result}")
        finally:
            kernel.shutdown()
    return samples


def bare_kernel_starts(repeat: int, workdir: Path) -> Samples:
    """``start_new_kernel`` (which waits for the kernel to answer) + first ``print(1)``."""
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        km, kc = _bare_kernel(workdir)
        try:
            kc.execute_interactive("print(1)", output_hook=_quiet, timeout=60)
            samples.append(time.perf_counter() - t0)
        finally:
            kc.stop_channels()
            km.shutdown_kernel(now=True)
    return samples


# -- (c) CLI start-up -------------------------------------------------------------------------


def time_command(argv: list[str], repeat: int, cwd: Path) -> Samples:
    """Wall time of a whole process, ``repeat`` times; a failing command raises."""
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)
        samples.append(time.perf_counter() - t0)
        if done.returncode != 0:
            raise RuntimeError(f"{argv} exited {done.returncode}: {done.stderr.strip()[-500:]}")
    return samples


def time_first_answer(argv: list[str], repeat: int, cwd: Path) -> tuple[Samples, Samples]:
    """Time to the first ``model_done`` JSON line on stdout, and to process exit."""
    first: Samples = []
    total: Samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        assert proc.stdout is not None
        seen: float | None = None
        for line in proc.stdout:
            if seen is None and '"model_done"' in line:
                seen = time.perf_counter() - t0
        _, err = proc.communicate()
        total.append(time.perf_counter() - t0)
        if proc.returncode != 0 or seen is None:
            raise RuntimeError(f"{argv} exited {proc.returncode}: {err.strip()[-500:]}")
        first.append(seen)
    return first, total


def cli_startup(repeat: int, workdir: Path) -> dict[str, Samples]:
    """Process wall times of the loci CLI and of bare Python start-ups."""
    script = workdir / "reply.json"
    script.write_text(json.dumps(["Hello! Nothing to run."]), encoding="utf-8")
    loci = loci_command()
    py = sys.executable
    ask = [*loci, "--json", "-y", "-m", f"scripted:{script}", "--workdir", str(workdir), "hi"]
    first, total = time_first_answer(ask, repeat, workdir)
    return {
        "python -c pass": time_command([py, "-c", "pass"], repeat, workdir),
        "python -c 'import loci'": time_command([py, "-c", "import loci"], repeat, workdir),
        "python -c 'import loci.cli.main'": time_command(
            [py, "-c", "import loci.cli.main"], repeat, workdir
        ),
        "loci --version": time_command([*loci, "--version"], repeat, workdir),
        "loci --json scripted: first answer": first,
        "loci --json scripted: exit": total,
    }


# -- report -----------------------------------------------------------------------------------

Row = tuple[str, Samples, str, Samples]
CLI_IMPORT = "python -c 'import loci.cli.main'"


def comparisons(repeat: int) -> tuple[list[Row], dict[str, Samples]]:
    """Run every measurement; returns (loci vs baseline rows, all raw samples by name)."""
    with scratch_home() as home, tempfile.TemporaryDirectory(prefix="loci-wd-") as wd:
        workdir = Path(wd)
        raw: dict[str, Samples] = {}
        raw["bare round trip"] = bare_round_trips(repeat, workdir)
        raw["session turn"], raw["session execution"] = session_round_trips(repeat, home, workdir)
        raw["bare kernel start"] = bare_kernel_starts(repeat, workdir)
        raw["loci kernel start"] = loci_kernel_starts(repeat, workdir)
        raw.update(cli_startup(repeat, workdir))
    rows: list[Row] = [
        ("session turn", raw["session turn"], "bare round trip", raw["bare round trip"]),
        ("session execution", raw["session execution"], "bare round trip", raw["bare round trip"]),
        (
            "loci kernel start",
            raw["loci kernel start"],
            "bare kernel start",
            raw["bare kernel start"],
        ),
        (
            "python -c 'import loci'",
            raw["python -c 'import loci'"],
            "python -c pass",
            raw["python -c pass"],
        ),
        ("loci --version", raw["loci --version"], "python -c pass", raw["python -c pass"]),
        (
            "loci --version",
            raw["loci --version"],
            "python -c 'import loci'",
            raw["python -c 'import loci'"],
        ),
        ("loci --version", raw["loci --version"], CLI_IMPORT, raw[CLI_IMPORT]),
        (
            "loci --json scripted: first answer",
            raw["loci --json scripted: first answer"],
            "python -c 'import loci'",
            raw["python -c 'import loci'"],
        ),
        (
            "loci --json scripted: first answer",
            raw["loci --json scripted: first answer"],
            CLI_IMPORT,
            raw[CLI_IMPORT],
        ),
        (
            "loci --json scripted: exit",
            raw["loci --json scripted: exit"],
            "python -c 'import loci'",
            raw["python -c 'import loci'"],
        ),
        (  # +ms: from the answer to the end of the process (kernels shut down, history closed)
            "loci --json scripted: exit",
            raw["loci --json scripted: exit"],
            "loci --json scripted: first answer",
            raw["loci --json scripted: first answer"],
        ),
    ]
    return rows, raw


def format_table(rows: list[Row]) -> str:
    """A plain-text table: medians in milliseconds, difference and ratio."""
    head = f"{'measured (loci)':<36} {'ms':>9}  {'baseline':<32} {'ms':>9} {'+ms':>9} {'ratio':>7}"
    lines = [head, "-" * len(head)]
    for name, xs, base, bs in rows:
        m, b = median(xs) * 1e3, median(bs) * 1e3
        ratio = m / b if b else float("nan")
        lines.append(f"{name:<36} {m:>9.1f}  {base:<32} {b:>9.1f} {m - b:>9.1f} {ratio:>6.2f}x")
    return "\n".join(lines)


def report(rows: list[Row], raw: dict[str, Samples], repeat: int) -> dict[str, Any]:
    """The JSON document: environment, medians, ratios and every raw sample (seconds)."""
    return {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "repeat": repeat,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "comparisons": [
            {
                "measured": n,
                "median_s": median(xs),
                "baseline": b,
                "baseline_median_s": median(bs),
                "ratio": median(xs) / median(bs) if median(bs) else None,
            }
            for n, xs, b, bs in rows
        ],
        "samples_s": raw,
    }


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, measure, print the table and write the JSON file."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=10, help="samples per measurement")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON file to write")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    rows, raw = comparisons(args.repeat)
    print(format_table(rows))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(report(rows, raw, args.repeat), indent=1) + "\n", encoding="utf-8"
    )
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
