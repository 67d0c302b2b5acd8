"""Load on ``loci serve``: N conversations streaming at once, with the scripted model.

    python benchmarks/web_load.py [--conversations 20] [--rounds 2] [--out FILE.json]

Starts ``loci serve`` (a subprocess, 127.0.0.1, a throw-away LOCI_HOME, auto-run, real
kernels) and, from one client thread per conversation: creates the conversation, sends a
request whose scripted reply runs a Python block, and reads the SSE stream to ``turn_done``;
``--rounds`` requests each. Reported: time from sending a request to its first event
(``first_event``), the gap between consecutive events of a turn as the client sees them
(``event_gap``), the whole turn, all as p50/p95 ms, and the server's RSS (with and without its
kernel processes) at the end. Loopback only; every request has a timeout.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

TOKEN = "bench-token-not-secret-0123456789"
SCRIPT = [
    {
        "text": "Let me compute.",
        "tool_calls": [{"language": "python", "code": "print(sum(range(10)))"}],
    },
    "The sum is 45.",
]


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000


def rss_kb(pid: int) -> int:
    text = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"VmRSS:\s+(\d+)", text)
    return int(match.group(1)) if match else 0


def tree(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
    kids = [int(p) for p in out.stdout.split()]
    return [pid] + [q for k in kids for q in tree(k)]


def start_server(home: Path, script: Path) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "LOCI_HOME": str(home), "LOCI_SANDBOX": "off"}
    cmd = [sys.executable, "-m", "loci.cli.main", "serve", "--port", "0", "--token", TOKEN]
    cmd += ["-m", f"scripted:{script}", "-y"]
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    line = proc.stderr.readline()
    match = re.search(r"(http://\S+?)/\?token=", line)
    if not match:
        proc.kill()
        raise SystemExit(f"server did not start: {line}")
    return proc, match.group(1)


def one_conversation(url: str, rounds: int, out: dict[str, list[float]]) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=url, headers=headers, timeout=120) as c:
        cid = c.post("/api/conversations", json={}).json()["id"]
        for n in range(rounds):
            sent = time.monotonic()
            after = c.post(f"/api/conversations/{cid}/messages", json={"text": f"sum {n}"})
            params = {"after": after.json()["after"], "until": "idle"}
            first, last = None, None
            with c.stream("GET", f"/api/conversations/{cid}/events", params=params) as resp:
                for line in resp.iter_lines():
                    if not line.startswith("data: "):
                        continue
                    now = time.monotonic()
                    if first is None:
                        first = now
                        out["first_event"].append(now - sent)
                    elif last is not None:
                        out["event_gap"].append(now - last)
                    last = now
            out["turn"].append(time.monotonic() - sent)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--conversations", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="loci-web-load-") as tmp:
        script = Path(tmp) / "script.json"
        script.write_text(json.dumps(SCRIPT * 3))
        proc, url = start_server(Path(tmp) / "home", script)
        try:
            results: dict[str, list[float]] = {"first_event": [], "event_gap": [], "turn": []}
            started = time.monotonic()
            threads = [
                threading.Thread(target=one_conversation, args=(url, args.rounds, results))
                for _ in range(args.conversations)
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join(600)
            wall = time.monotonic() - started
            server_kb = rss_kb(proc.pid)
            total_kb = sum(rss_kb(p) for p in tree(proc.pid) if Path(f"/proc/{p}").exists())
        finally:
            proc.terminate()
            proc.wait(60)
    report: dict[str, Any] = {
        "conversations": args.conversations,
        "rounds": args.rounds,
        "turns": len(results["turn"]),
        "wall_s": round(wall, 2),
        "server_rss_mb": round(server_kb / 1024, 1),
        "server_and_kernels_rss_mb": round(total_kb / 1024, 1),
        "cpus": os.cpu_count(),
    }
    for name, values in results.items():
        report[f"{name}_p50_ms"] = round(pct(values, 0.5), 1)
        report[f"{name}_p95_ms"] = round(pct(values, 0.95), 1)
    report["events"] = len(results["event_gap"]) + len(results["first_event"])
    report["mean_turn_s"] = round(statistics.mean(results["turn"]), 2) if results["turn"] else 0
    text = json.dumps(report, indent=1)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
