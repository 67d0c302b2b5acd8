"""Load on a multi-user ``loci serve --users``: N users each running a short analysis.

    python benchmarks/multiuser_load.py [--users 8] [--rounds 2] [--kernels local|gateway|both]
        [--out FILE.json]

For each kernel placement asked for, starts (all on 127.0.0.1, in a throw-away LOCI_HOME):
with ``gateway``, a real ``jupyter kernelgateway`` with a token; then ``loci serve --users``
(scripted model, auto-run) with N users made by ``loci users add``. Each user, from its own
thread and with its own token, creates a conversation and sends ``--rounds`` requests; the
scripted reply runs a short analysis (10,000 generated rows written to a CSV, read back,
mean / stdev / quantiles printed). A turn is timed from sending the request to its
``turn_done`` event on the SSE stream.

Reported per placement: turns per second (throughput), turn and first-event latency p50/p95,
server RSS, and RSS per Python kernel (the kernel processes under the server, or under the
gateway). Loopback only; every request has a timeout.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from web_load import pct, rss_kb, tree

ANALYSIS = """\
import csv, random, statistics
random.seed(7)
with open("data.csv", "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["id", "value"])
    w.writerows((i, random.gauss(50, 10)) for i in range(10_000))
with open("data.csv") as f:
    values = [float(r["value"]) for r in csv.DictReader(f)]
q = statistics.quantiles(values, n=4)
print(f"n={len(values)} mean={statistics.mean(values):.2f} sd={statistics.stdev(values):.2f}")
print("quartiles", [round(x, 2) for x in q])
"""
SCRIPT = [
    {"text": "Analysing.", "tool_calls": [{"language": "python", "code": ANALYSIS}]},
    "Done: the mean is about 50.",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_gateway(home: Path, token: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    cmd = [sys.executable, "-m", "jupyter", "kernelgateway", "--KernelGatewayApp.ip=127.0.0.1"]
    cmd += [f"--KernelGatewayApp.port={port}", f"--KernelGatewayApp.auth_token={token}"]
    cwd = home / "gateway"
    cwd.mkdir(parents=True)
    proc = subprocess.Popen(
        cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{url}/api/kernelspecs", headers={"Authorization": f"token {token}"})
            return proc, url
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("the kernel gateway did not start")


def loci(home: Path, *args: str, **kw: Any) -> subprocess.Popen[str]:
    env = {**os.environ, "LOCI_HOME": str(home), "LOCI_SANDBOX": "off"}
    return subprocess.Popen(
        [sys.executable, "-m", "loci.cli.main", *args], env=env, text=True, **kw
    )


def add_users(home: Path, n: int) -> list[str]:
    tokens = []
    for i in range(n):
        proc = loci(
            home, "users", "add", f"user{i}", stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
        out, _ = proc.communicate(timeout=60)
        tokens.append(out.strip())
    return tokens


def start_server(home: Path, script: Path, gateway: tuple[str, str] | None) -> tuple[Any, str]:
    args = ["serve", "--users", "--allow-unconfined", "--port", "0", "-m", f"scripted:{script}"]
    args.append("-y")
    if gateway is not None:
        args += ["--kernel-gateway", gateway[0], "--gateway-token", gateway[1]]
    proc = loci(home, *args, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    line = proc.stderr.readline()
    match = re.search(r"(http://\S+?)/\?token=", line)
    if not match:
        proc.kill()
        raise SystemExit(f"server did not start: {line}")
    return proc, match.group(1)


def one_user(url: str, token: str, rounds: int, out: dict[str, list[float]]) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, headers=headers, timeout=300) as c:
        cid = c.post("/api/conversations", json={}).json()["id"]
        for n in range(rounds):
            sent = time.monotonic()
            after = c.post(f"/api/conversations/{cid}/messages", json={"text": f"analyse {n}"})
            params = {"after": after.json()["after"], "until": "idle"}
            first = None
            status = ""
            with c.stream("GET", f"/api/conversations/{cid}/events", params=params) as resp:
                for line in resp.iter_lines():
                    if line.startswith("data: "):
                        event = json.loads(line[6:])
                        if first is None:
                            first = time.monotonic() - sent
                        if event["type"] == "turn_done":
                            status = event["status"]
            out["turn"].append(time.monotonic() - sent)
            out["first_event"].append(first or 0.0)
            out["ok"].append(1.0 if status == "done" else 0.0)
        files = c.get(f"/api/conversations/{cid}/files").json()["files"]
        out["csv_back"].append(1.0 if any(f["path"] == "data.csv" for f in files) else 0.0)


def kernel_rss(root_pid: int) -> list[int]:
    """RSS (kB) of each ipykernel process under ``root_pid``."""
    found = []
    for pid in tree(root_pid):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"ipykernel" in cmdline:
            found.append(rss_kb(pid))
    return found


def run_placement(kind: str, users: int, rounds: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="loci-mu-load-") as tmp:
        home = Path(tmp) / "home"
        script = Path(tmp) / "script.json"
        script.write_text(json.dumps(SCRIPT * (rounds + 1)))
        tokens = add_users(home, users)
        gw_proc = None
        gateway = None
        if kind == "gateway":
            gw_token = secrets.token_urlsafe(24)
            gw_proc, gw_url = start_gateway(Path(tmp), gw_token)
            gateway = (gw_url, gw_token)
        proc, url = start_server(home, script, gateway)
        results: dict[str, list[float]] = {"turn": [], "first_event": [], "ok": [], "csv_back": []}
        try:
            started = time.monotonic()
            threads = [
                threading.Thread(target=one_user, args=(url, t, rounds, results)) for t in tokens
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join(900)
            wall = time.monotonic() - started
            server_kb = rss_kb(proc.pid)
            kernels = kernel_rss(gw_proc.pid if gw_proc else proc.pid)
        finally:
            proc.terminate()
            proc.wait(60)
            if gw_proc is not None:
                os.killpg(gw_proc.pid, 15)
                gw_proc.wait(30)
    turns = len(results["turn"])
    return {
        "kernels": kind,
        "users": users,
        "rounds": rounds,
        "turns": turns,
        "turns_done": int(sum(results["ok"])),
        "csv_fetched_back": int(sum(results["csv_back"])),
        "wall_s": round(wall, 2),
        "throughput_turns_per_s": round(turns / wall, 3) if wall else 0,
        "turn_p50_ms": round(pct(results["turn"], 0.5), 1),
        "turn_p95_ms": round(pct(results["turn"], 0.95), 1),
        "first_event_p95_ms": round(pct(results["first_event"], 0.95), 1),
        "mean_turn_s": round(statistics.mean(results["turn"]), 2) if turns else 0,
        "server_rss_mb": round(server_kb / 1024, 1),
        "python_kernels": len(kernels),
        "rss_per_kernel_mb": round(statistics.mean(kernels) / 1024, 1) if kernels else 0,
        "cpus": os.cpu_count(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--kernels", choices=["local", "gateway", "both"], default="both")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    kinds = ["local", "gateway"] if args.kernels == "both" else [args.kernels]
    report = [run_placement(kind, args.users, args.rounds) for kind in kinds]
    text = json.dumps(report, indent=1)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
