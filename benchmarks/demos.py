"""The demos loci is known for, run through any model and checked automatically.

    python benchmarks/demos.py --model SPEC [--model SPEC2 ...] [--only derivative,news,...]
        [--task-timeout 300] [--exec-timeout 60] [--max-steps 6] [--out FILE.json]
        [--extra-arg ARG ...]

Each demo is one request, ``loci --json -y -m SPEC --workdir TMP ... -- PROMPT``, in a fresh
temporary working directory with a throw-away LOCI_HOME (so a missing package is offered and,
with ``-y``, installed every time, as for a new user), killed with its process tree after
``--task-timeout`` seconds. Its events and the files left in the working directory decide
pass/fail (the rules: ``_demo_checks.py`` and benchmarks/README.md):

    derivative   求 f(x)=√(x+√(x+√x)) 的导数，并用数值方法验证结果
    news         an RSS feed served on 127.0.0.1 by this script: list the headlines
    pptx         a 5-slide PowerPoint on large language models saved as llm.pptx
    fastinvsqrt  explain 0x5f3759df and check its accuracy numerically
    translate    summarise a (made-up) abstract in two sentences, then translate it to Chinese

Printed: one table, a row per demo and a column per model (result, steps, executions, wall
time, tokens of the turn), then the criteria that failed. ``--out`` (default
``benchmarks/results/demos-MODEL.json``) holds every result with its criteria, facts, answer
and events (long strings cut), rewritten after each demo.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from _demo_checks import (
    Transcript,
    Verdict,
    check_derivative,
    check_fast_inv_sqrt,
    check_news,
    check_pptx,
    check_translation,
    transcript,
)
from _runner import (
    ROOT,
    LiveProcesses,
    loci_args,
    loci_command,
    make_record,
    parse_events,
    run_process,
    safe_name,
    task_env,
)

TITLES = [
    "Lighthouse Keepers of Orkney Win the Right to Nap",
    "Glass Bridge Over the Danube Opens to Cyclists",
    "Retired Chess Robot Takes Up Watercolour Painting",
    "Volcanic Honey Prices Triple in Reykjavik",
    "Moon Garden Experiment Sprouts Its First Tomato",
]

ABSTRACT = (
    "We introduce GraphLattice attention, a sparse attention mechanism that arranges tokens on "
    "a learned two-dimensional lattice and restricts each query to its lattice neighbours and a "
    "small set of global anchor tokens. A lightweight router, the Lattice Compass, assigns "
    "tokens to lattice cells once per layer at linear cost. On long-document question "
    "answering with inputs of up to 64,000 tokens, GraphLattice attention comes within 0.4 "
    "points of dense attention while using 7.1 times less memory and running 3.2 times faster "
    "on a single accelerator. The lattice layout is also interpretable: neighbouring cells tend "
    "to hold tokens from the same paragraph or entity. Ablations show that the anchor tokens "
    "are essential for multi-hop reasoning, and that the Lattice Compass can be distilled into "
    "a fixed hashing scheme with little loss."
)

CUT = 2000  # characters kept of any string in the saved events


# -- the feed of the news demo ----------------------------------------------------------------


def feed_xml(base: str) -> str:
    """An RSS 2.0 document with one item per title."""
    items = "".join(
        f"<item><title>{escape(t)}</title><link>{base}/items/{n}</link>"
        f"<description>{escape(t)}: the full story.</description>"
        f"<pubDate>Mon, 0{n} Jun 2025 08:00:00 GMT</pubDate></item>"
        for n, t in enumerate(TITLES, 1)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
        f"<title>The Loci Gazette</title><link>{base}/</link>"
        f"<description>Made-up news for a demo</description>{items}</channel></rss>"
    )


class FeedServer:
    """Serves ``/feed.xml`` on 127.0.0.1 (a free port) from a thread; counts its requests."""

    def __init__(self) -> None:
        self.hits = 0
        self._lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    @property
    def url(self) -> str:
        return f"{self.base}/feed.xml"

    def hit(self) -> None:
        with self._lock:
            self.hits += 1

    def reset(self) -> None:
        with self._lock:
            self.hits = 0

    def __enter__(self) -> FeedServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _handler(feed: FeedServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?")[0] != "/feed.xml":
                self.send_error(404)
                return
            feed.hit()
            body = feed_xml(feed.base).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

    return Handler


# -- the demos --------------------------------------------------------------------------------


@dataclass
class Context:
    """What a demo's prompt and check may use."""

    workdir: Path
    feed: FeedServer


@dataclass(frozen=True)
class Demo:
    """A request as a user would type it, and the check of its run."""

    name: str
    prompt: Callable[[Context], str]
    check: Callable[[Transcript, Context], Verdict]


DEMOS = {
    d.name: d
    for d in (
        Demo(
            "derivative",
            lambda c: "求 f(x)=√(x+√(x+√x)) 的导数，并用数值方法验证结果",
            lambda t, c: check_derivative(t),
        ),
        Demo(
            "news",
            lambda c: (
                f"What's in the news? Read the RSS feed at {c.feed.url} and list the headlines."
            ),
            lambda t, c: check_news(t, TITLES, c.feed.hits),
        ),
        Demo(
            "pptx",
            lambda c: (
                "Make a PowerPoint presentation outlining large language models "
                "(5 slides) and save it as llm.pptx"
            ),
            lambda t, c: check_pptx(t, c.workdir),
        ),
        Demo(
            "fastinvsqrt",
            lambda c: (
                "Explain the fast inverse square root trick (the 0x5f3759df constant) "
                "and check numerically how accurate it is."
            ),
            lambda t, c: check_fast_inv_sqrt(t),
        ),
        Demo(
            "translate",
            lambda c: (
                "Summarise this abstract in two sentences, then translate your summary "
                f"into Chinese.\n\n{ABSTRACT}"
            ),
            lambda t, c: check_translation(t),
        ),
    )
}


@dataclass
class Limits:
    """The per-demo settings passed to loci."""

    task_timeout: float = 300.0
    exec_timeout: float = 60.0
    max_steps: int = 6
    extra_arg: tuple[str, ...] = ()


def demo_env(root: Path) -> dict[str, str]:
    """run_bench's task environment, with 127.0.0.1 kept off any HTTP proxy."""
    env = task_env(root)
    for key in ("NO_PROXY", "no_proxy"):
        env[key] = ",".join(p for p in (env.get(key), "127.0.0.1", "localhost") if p)
    return env


def trimmed(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The events worth keeping (no text deltas), each string cut to CUT characters."""

    def cut(v: Any) -> Any:
        if isinstance(v, str) and len(v) > CUT:
            return v[:CUT] + f"...[{len(v) - CUT} more]"
        return v

    return [{k: cut(v) for k, v in e.items()} for e in events if e.get("type") != "text"]


def run_demo(
    demo: Demo, model: str, limits: Limits, feed: FeedServer, live: LiveProcesses
) -> dict[str, Any]:
    """Run one demo with one model in a fresh workdir and LOCI_HOME; check it; the result."""
    with tempfile.TemporaryDirectory(prefix=f"loci-demo-{demo.name}-") as tmp:
        root = Path(tmp)
        ctx = Context(root / "work", feed)
        ctx.workdir.mkdir()
        prompt = demo.prompt(ctx)
        cmd = loci_args(
            model, ctx.workdir, limits.max_steps, limits.exec_timeout, [*limits.extra_arg], prompt
        )
        feed.reset()
        done = run_process(cmd, ctx.workdir, demo_env(root), limits.task_timeout, live)
        events = parse_events(done.stdout)
        trans = transcript(events)
        verdict = demo.check(trans, ctx)
    rec = make_record(0, done.stdout, done.stderr, done.code, done.wall, done.timed_out)
    verdict.criteria["finished (no timeout or crash)"] = rec.status not in ("timeout", "crash")
    return {
        "demo": demo.name,
        "model": model,
        "passed": verdict.passed,
        "failed": verdict.failed(),
        "criteria": verdict.criteria,
        "info": verdict.info,
        "status": rec.status,
        "steps": rec.steps,
        "executions": rec.executions,
        "exec_statuses": rec.exec_statuses,
        "prompt_tokens": rec.prompt_tokens,
        "completion_tokens": rec.completion_tokens,
        "wall_s": rec.wall_s,
        "exit_code": rec.exit_code,
        "error": rec.error,
        "answer": trans.answer,
        "prompt": prompt,
        "events": trimmed(events),
    }


# -- report -----------------------------------------------------------------------------------


def cell(r: dict[str, Any] | None) -> str:
    """One result as ``PASS 3st 2ex 41s 5.2k tok``."""
    if r is None:
        return "-"
    tok = r["prompt_tokens"] + r["completion_tokens"]
    tokens = f"{tok / 1000:.1f}k" if tok >= 1000 else str(tok)
    word = "PASS" if r["passed"] else "fail"
    return f"{word} {r['steps']}st {r['executions']}ex {r['wall_s']:.0f}s {tokens} tok"


def table(results: dict[str, list[dict[str, Any]]], names: list[str]) -> str:
    """A row per demo, a column per model, a passed-count row, then what failed and why."""
    models = list(results)
    by = {(r["model"], r["demo"]): r for rs in results.values() for r in rs}
    rows = [["demo", *models]]
    rows += [[n, *(cell(by.get((m, n))) for m in models)] for n in names]
    rows.append(
        ["passed", *(f"{sum(r['passed'] for r in results[m])}/{len(results[m])}" for m in models)]
    )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    fails = [r for rs in results.values() for r in rs if not r["passed"]]
    if fails:
        lines.append("")
        lines.append("failed (criteria not met, turn status):")
        for r in fails:
            why = "; ".join(r["failed"])
            lines.append(f"  {r['model']} / {r['demo']}: {why} [{r['status']}]")
    return "\n".join(lines)


def save(path: Path, results: dict[str, list[dict[str, Any]]], info: dict[str, Any]) -> None:
    """Write the run's settings and every result so far."""
    path.parent.mkdir(parents=True, exist_ok=True)
    summary = {
        m: {"passed": sum(r["passed"] for r in rs), "of": len(rs)} for m, rs in results.items()
    }
    doc = {**info, "summary": summary, "results": results}
    path.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


# -- main -------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The command-line options."""
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--model", action="append", required=True, help="loci model spec (repeat for several)"
    )
    p.add_argument("--only", help="comma-separated demo names: " + ",".join(DEMOS))
    p.add_argument("--task-timeout", type=float, default=300.0, help="seconds per demo")
    p.add_argument("--exec-timeout", type=float, default=60.0, help="seconds per execution")
    p.add_argument("--max-steps", type=int, default=6, help="code rounds per demo")
    p.add_argument(
        "--out", type=Path, help="JSON file (default benchmarks/results/demos-MODEL.json)"
    )
    p.add_argument(
        "--extra-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="extra argument for loci (repeat it: --extra-arg=--api-base --extra-arg=URL)",
    )
    return p


def selected(only: str | None) -> list[str]:
    """The demo names of ``--only`` (all when absent), in the order given."""
    names = [n.strip() for n in (only or ",".join(DEMOS)).split(",") if n.strip()]
    unknown = [n for n in names if n not in DEMOS]
    if unknown:
        raise SystemExit(f"unknown demo(s): {', '.join(unknown)} (known: {', '.join(DEMOS)})")
    return list(dict.fromkeys(names))


def main(argv: list[str] | None = None) -> int:
    """Run the selected demos with every model; print the table, write the JSON."""
    args = build_parser().parse_args(argv)
    names = selected(args.only)
    models = list(dict.fromkeys(args.model))
    out = args.out or ROOT / "benchmarks" / "results" / (
        "demos-" + "+".join(safe_name(m) for m in models) + ".json"
    )
    limits = Limits(args.task_timeout, args.exec_timeout, args.max_steps, tuple(args.extra_arg))
    info: dict[str, Any] = {"when": time.strftime("%Y-%m-%dT%H:%M:%S"), "command": loci_command()}
    info["settings"] = {**vars(limits), "models": models, "demos": names}
    results: dict[str, list[dict[str, Any]]] = {m: [] for m in models}
    live = LiveProcesses()
    with FeedServer() as feed:
        try:
            for model in models:
                for name in names:
                    r = run_demo(DEMOS[name], model, limits, feed, live)
                    results[model].append(r)
                    save(out, results, info)
                    print(f"[{model}] {name}: {cell(r)} [{r['status']}]", flush=True)
        except KeyboardInterrupt:
            live.kill_all()
            print("\ninterrupted (finished demos are saved)", file=sys.stderr)
    print()
    print(table(results, names))
    print(f"\nresults: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
