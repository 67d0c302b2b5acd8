"""What a look at the Python kernel's state costs per execution, and that it stays bounded.

    python benchmarks/kernel_state.py [--repeat N] [--out benchmarks/results/kernel_state.json]

On one real kernel (medians over N, ms; ratio = look / baseline; nothing is asserted):

  look, small namespace    ``JupyterKernel.state()`` with a few names (a DataFrame, an array)
  baseline                 a bare silent ``pass`` round trip on the same kernel, the same run
  look, hostile namespace  with a 10,000-column DataFrame, 5,000 more names and an object
                           whose ``__repr__``, ``__len__`` and ``__getattr__`` sleep 10 s:
                           the look must stay under its 0.5 s bound (``bounded``)
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from loci.kernels.jupyter import JupyterKernel  # noqa: E402
from loci.kernels.runloop import STATE_TIMEOUT  # noqa: E402

DEFAULT_OUT = ROOT / "benchmarks" / "results" / "kernel_state.json"
SMALL = "import numpy as np, pandas as pd\ndf = pd.DataFrame({'a': range(891)})\narr = np.ones(5)"
HOSTILE = (
    "import time\nwide = pd.DataFrame(np.zeros((2, 10000)))\n"
    "class Hostile:\n"
    "    def __repr__(self):\n        time.sleep(10)\n"
    "    __len__ = __getattr__ = lambda self, *a: time.sleep(10)\n"
    "hostile = Hostile()\n"
    "for i in range(5000):\n    globals()[f'v{i}'] = i"
)


def bare(kernel: JupyterKernel) -> float:
    """A silent ``pass``, sent and answered, as jupyter_client does it (ms)."""

    async def go() -> None:
        kc = kernel._r.kc
        msg_id = kc.execute("pass", silent=True, store_history=False, allow_stdin=False)
        while True:
            with_reply = await kc.get_shell_msg(timeout=5)
            if with_reply["parent_header"].get("msg_id") == msg_id:
                return

    started = time.perf_counter()
    kernel._call(go())
    return (time.perf_counter() - started) * 1000


def look(kernel: JupyterKernel) -> tuple[float, bool]:
    started = time.perf_counter()
    state = kernel.state()
    return (time.perf_counter() - started) * 1000, state is not None


def median(samples: list[float]) -> float:
    return round(statistics.median(samples), 2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    report: dict[str, Any] = {}
    with JupyterKernel(Path(tempfile.mkdtemp())) as kernel:
        list(kernel.execute(SMALL))
        for _ in range(3):  # warm up
            bare(kernel), look(kernel)
        base = [bare(kernel) for _ in range(args.repeat)]
        small = [look(kernel)[0] for _ in range(args.repeat)]
        list(kernel.execute(HOSTILE))
        hostile = [look(kernel) for _ in range(args.repeat)]
    times = [t for t, _ in hostile]
    report = {
        "repeat": args.repeat,
        "baseline_silent_pass_ms": median(base),
        "look_small_ms": median(small),
        "ratio_small": round(median(small) / median(base), 1),
        "look_hostile_ms": median(times),
        "look_hostile_max_ms": round(max(times), 2),
        "ratio_hostile": round(median(times) / median(base), 1),
        "hostile_answered": sum(ok for _, ok in hostile),
        "bounded": max(times) <= STATE_TIMEOUT * 1000 + 50,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
