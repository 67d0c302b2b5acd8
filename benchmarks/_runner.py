"""What the benchmark scripts share: running ``loci --json`` as a subprocess and reading it.

``run_bench.py`` and ``demos.py`` import this (they are scripts, so this folder is first on
``sys.path``). A task runs in its own session (process group) and is killed with its whole
process tree on timeout; its stdout is parsed into events and folded into a :class:`Record`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Record:
    """What one task did (one line of records.jsonl)."""

    id: int
    status: str  # the final turn_done status, or "timeout" / "crash"
    steps: int
    prompt_tokens: int
    completion_tokens: int
    executions: int
    exec_statuses: list[str]
    wall_s: float
    exit_code: int | None
    response: str
    error: str = ""
    replies: list[str] = field(default_factory=list)  # each model reply, in order
    notices: list[str] = field(default_factory=list)  # loci's notices (what it did, and why)
    # with --effort above 1: the vote (``loci.vote``) and the first attempt's replies alone
    vote: dict[str, Any] | None = None
    first_response: str = ""


@dataclass
class Finished:
    """How one ``loci`` process ended."""

    stdout: str
    stderr: str
    code: int | None
    wall: float
    timed_out: bool


def loci_command() -> list[str]:
    """The ``loci`` console script next to this interpreter, else ``python -m loci.cli.main``."""
    script = Path(sys.executable).parent / "loci"
    return [str(script)] if script.exists() else [sys.executable, "-m", "loci.cli.main"]


def loci_args(
    model: str,
    workdir: Path,
    max_steps: int,
    exec_timeout: float,
    extra: list[str],
    prompt: str,
) -> list[str]:
    """``loci --json -y -m MODEL --workdir DIR --max-steps N --timeout T [EXTRA...] -- PROMPT``."""
    return [
        *loci_command(),
        "--json",
        "-y",
        "-m",
        model,
        "--workdir",
        str(workdir),
        "--max-steps",
        str(max_steps),
        "--timeout",
        str(exec_timeout),
        *extra,
        "--",
        prompt,
    ]


def task_env(out: Path) -> dict[str, str]:
    """The environment of a task: LOCI_HOME inside the out dir, the user's models dir kept."""
    env = dict(os.environ)
    user_home = Path(env.get("LOCI_HOME") or Path.home() / ".loci").expanduser()
    env.setdefault("LOCI_MODELS_DIR", str(user_home / "models"))
    env["LOCI_HOME"] = str(out / "home")
    return env


def kill_tree(proc: subprocess.Popen[str]) -> None:
    """Kill a task's process group and every descendant (kernels run in their own groups)."""
    victims: list[Any] = []
    try:
        import psutil

        victims = psutil.Process(proc.pid).children(recursive=True)
    except Exception:  # psutil missing or the process already gone
        victims = []
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    for child in victims:
        with contextlib.suppress(Exception):  # already gone
            child.kill()


class LiveProcesses:
    """The ``loci`` processes still running, so an interrupt can kill them all."""

    def __init__(self) -> None:
        self.procs: set[subprocess.Popen[str]] = set()
        self.lock = threading.Lock()

    def add(self, proc: subprocess.Popen[str]) -> None:
        with self.lock:
            self.procs.add(proc)

    def discard(self, proc: subprocess.Popen[str]) -> None:
        with self.lock:
            self.procs.discard(proc)

    def kill_all(self) -> None:
        """Kill every process still running (after Ctrl-C)."""
        with self.lock:
            procs = list(self.procs)
        for proc in procs:
            kill_tree(proc)


def run_process(
    cmd: list[str], cwd: Path, env: dict[str, str], timeout: float, live: LiveProcesses
) -> Finished:
    """Run ``cmd`` in its own session; kill its tree after ``timeout`` s or on an interrupt."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        cwd=cwd,
        env=env,
        text=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    live.add(proc)
    timed_out = False
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        kill_tree(proc)
        out, err = proc.communicate(timeout=30)
    except BaseException:  # Ctrl-C in the thread that waits: take the task down with us
        kill_tree(proc)
        raise
    finally:
        live.discard(proc)
    return Finished(out, err, proc.returncode, time.perf_counter() - t0, timed_out)


def parse_events(stdout: str) -> list[dict[str, Any]]:
    """The JSON event lines of a ``loci --json`` run (anything else is ignored)."""
    events = []
    for line in stdout.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            ev = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(ev, dict) and "type" in ev:
            events.append(ev)
    return events


_AGAIN = re.compile(r"effort \d+: attempt 2 of")  # the notice that begins a second attempt


def _first_attempt(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The events of a turn's first attempt (all of them without --effort)."""
    for n, e in enumerate(events):
        if e["type"] == "notice" and _AGAIN.match(str(e.get("message") or "")):
            return events[:n]
    return events


def _replies(events: list[dict[str, Any]]) -> list[str]:
    return [str(e.get("text") or "") for e in events if e["type"] == "model_done"]


def make_record(
    task_id: int, stdout: str, stderr: str, code: int | None, wall: float, timed_out: bool
) -> Record:
    """Fold one task's events into a Record."""
    events = parse_events(stdout)
    done = next((e for e in reversed(events) if e["type"] == "turn_done"), None)
    replies = _replies(events)
    vote = next((e for e in events if e["type"] == "vote"), None)
    execs = [str(e.get("status")) for e in events if e["type"] == "execution_done"]
    started = sum(1 for e in events if e["type"] == "execution_start")
    if done is not None:
        status, usage = str(done["status"]), done.get("usage") or {}
    else:
        status, usage = ("timeout" if timed_out else "crash"), {}
    error = str(done.get("message") or "") if done else stderr.strip()[-2000:]
    return Record(
        id=task_id,
        status=status,
        steps=int(done.get("steps") or 0) if done else len(replies),
        prompt_tokens=int(usage.get("prompt_tokens") or 0),
        completion_tokens=int(usage.get("completion_tokens") or 0),
        executions=started,
        exec_statuses=execs,
        wall_s=round(wall, 3),
        exit_code=code,
        # the kept answer last: the scorers read the last answer of a response
        response="\n\n".join(t for t in [*replies, vote["answer"] if vote else ""] if t),
        error=error,
        replies=replies,
        notices=[str(e.get("message") or "") for e in events if e["type"] == "notice"],
        vote=vote,
        first_response="\n\n".join(t for t in _replies(_first_attempt(events)) if t),
    )


def safe_name(model: str) -> str:
    """A model spec made file-name safe (a path spec by its last part)."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(model).name if "/" in model else model)
    return safe.strip("_") or "model"
