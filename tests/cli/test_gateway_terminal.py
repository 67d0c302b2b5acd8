"""The terminal through a real Jupyter Kernel Gateway on 127.0.0.1: the code runs in the
gateway's kernels, files go there and come back, Ctrl-C interrupts remote code, and a restarted
gateway costs the variables but not the conversation."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pexpect
import pytest

from gateway_server import GatewayServer, have_gateway, have_scheme_kernel

LOCI = [sys.executable, "-m", "loci.cli.main"]
PROMPT = r"\x1b\[\?2004h"


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[GatewayServer]:
    if not have_gateway():
        pytest.skip("jupyter_kernel_gateway is not installed (pip install jupyter_kernel_gateway)")
    with GatewayServer(tmp_path / "gateway", scheme=have_scheme_kernel()) as gw:
        yield gw


def test_json_run_sends_files_to_the_gateway_and_fetches_results_back(
    gateway: GatewayServer, cli_env: dict[str, str], script: Callable[..., str], workdir: Path
) -> None:
    (workdir / "data.csv").write_text("x\n1\n2\n3\n")
    code = (
        "import os\n"
        "total = sum(int(v) for v in open('data.csv').read().split()[1:])\n"
        "open('total.txt', 'w').write(str(total))\n"
        "print('total', total, 'in', os.getcwd())"
    )
    # the shell block runs on the gateway too, in the same folder as the Python kernel
    spec = script(
        f"```python\n{code}\n```",
        "```shell\necho shell sees $(cat total.txt)\n```",
        "The total is 6.",
    )
    env = dict(cli_env, LOCI_GATEWAY_TOKEN=gateway.token)
    args = ["--json", "-y", "-m", spec, "--workdir", str(workdir)]
    args += ["--kernel-gateway", gateway.url, "add up data.csv"]
    out = subprocess.run(LOCI + args, env=env, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr
    events = [json.loads(line) for line in out.stdout.splitlines()]
    printed = "".join(e["data"] for e in events if e["type"] == "output")
    # it ran on the gateway, in the conversation's own folder there, not in the local workdir
    match = re.search(r"total 6 in (\S+)", printed)
    assert match and "/loci-" in match.group(1), printed
    assert str(workdir) not in printed
    assert "shell sees 6" in printed
    # loci removed that folder on the gateway when it shut the kernel down
    assert not Path(match.group(1)).exists()
    # the file it made was fetched back into the local workspace, and listed
    assert (workdir / "total.txt").read_text() == "6"
    done = next(e for e in events if e["type"] == "execution_done")
    assert str(workdir / "total.txt") in done["files"]
    assert events[-1]["status"] == "done"
    show = subprocess.run(
        [*LOCI, "show", str(events[-1]["conversation_id"]), "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    execution = next(i for i in json.loads(show.stdout)["items"] if i["kind"] == "execution")
    assert execution["sandbox"] == f"gateway:{gateway.url}"


def test_other_languages_the_gateway_offers_run_there(
    gateway: GatewayServer, cli_env: dict[str, str], script: Callable[..., str], workdir: Path
) -> None:
    if not have_scheme_kernel():
        pytest.skip("calysto_scheme is not installed (pip install calysto_scheme)")
    spec = script("```scheme\n(define x 6)\n(display (* x 7))\n```", "It is 42.")
    env = dict(cli_env, LOCI_GATEWAY_TOKEN=gateway.token)
    args = ["--json", "-y", "-m", spec, "--workdir", str(workdir)]
    args += ["--kernel-gateway", gateway.url, "6 times 7 in scheme"]
    out = subprocess.run(LOCI + args, env=env, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr
    events = [json.loads(line) for line in out.stdout.splitlines()]
    start = next(e for e in events if e["type"] == "execution_start")
    assert start["language"] == "scheme"
    assert "42" in "".join(e["data"] for e in events if e["type"] == "output")
    assert next(e for e in events if e["type"] == "execution_done")["status"] == "ok"


def test_chat_interrupt_and_gateway_restart(
    gateway: GatewayServer, cli_env: dict[str, str], script: Callable[..., str], workdir: Path
) -> None:
    spec = script(
        "```python\nx = 41\nprint('x is', x)\n```",
        "x is set.",
        "```python\nimport time\nprint('sta' + 'rted', flush=True)\ntime.sleep(300)\n```",
        "```python\nprint('x + 1 =', x + 1)\n```",
        "still there",
        "```python\nprint('vars', 'x' in globals())\n```",
        "the gateway came back",
    )
    env = dict(cli_env, LOCI_GATEWAY_TOKEN=gateway.token)
    child = pexpect.spawn(
        LOCI[0],
        [*LOCI[1:], "--workdir", str(workdir), "-y", "-m", spec, "--kernel-gateway", gateway.url],
        env=env,
        encoding="utf-8",
        timeout=90,
        dimensions=(40, 100),
    )
    try:
        child.expect("kernel gateway")
        child.expect(PROMPT)
        child.sendline("set x")
        child.expect("x is 41")
        child.expect(PROMPT)
        child.sendline("wait a while")
        child.expect("started")
        child.sendintr()  # Ctrl-C interrupts the code running on the gateway
        child.expect("interrupted")
        child.expect(PROMPT)
        child.sendline("is x still there?")
        child.expect("x \\+ 1 = 42")  # the kernel was interrupted, not restarted
        child.expect(PROMPT)
        gateway.restart()  # the gateway goes away with its kernels and comes back
        child.sendline("and now?")
        child.expect("lost the Python kernel")
        child.expect("vars False")
        child.expect("the gateway came back")
        child.expect(PROMPT)
        child.sendline("%exit")
        child.expect(pexpect.EOF)
    finally:
        if child.isalive():
            child.terminate(force=True)
    assert gateway.kernel_ids() == []  # loci shut its kernel down on the gateway when leaving
