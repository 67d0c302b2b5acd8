"""``loci serve`` with its kernels on a real Jupyter Kernel Gateway (127.0.0.1): uploads reach
the remote kernel, files it makes come back for download, Stop interrupts remote code, and a
restarted gateway costs the variables, not the conversation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from web_helpers import ServerFactory, drive, make_settings, wait_for

from gateway_server import GatewayServer, have_gateway
from loci.messages import ToolCall


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[GatewayServer]:
    if not have_gateway():
        pytest.skip("jupyter_kernel_gateway is not installed (pip install jupyter_kernel_gateway)")
    with GatewayServer(tmp_path / "gateway") as gw:
        yield gw


def test_web_flow_through_the_gateway(
    start_server: ServerFactory, gateway: GatewayServer, tmp_path: Path, loci_home: Path
) -> None:
    settings = make_settings(
        tmp_path, kernel_gateway=gateway.url, gateway_token=gateway.token, auto_run=True
    )
    srv = start_server(settings=settings)
    analyse = (
        "import os\n"
        "rows = open('sales.csv').read().split()[1:]\n"
        "open('report.txt', 'w').write(f'{len(rows)} rows')\n"
        "print(len(rows), 'rows on', os.getcwd())"
    )
    srv.model.enqueue("", [ToolCall("c1", "python", analyse)])
    srv.model.enqueue("3 rows.")
    with srv.client() as c:
        cid = c.post("/api/conversations", json={"auto_run": True}).json()["id"]
        base = f"/api/conversations/{cid}"
        assert c.put(f"{base}/files/sales.csv", content=b"n\n1\n2\n3\n").status_code == 201
        after = c.post(f"{base}/messages", json={"text": "analyse sales.csv"}).json()["after"]
        events = drive(c, cid, after, "run")
        printed = "".join(e["data"] for e in events if e["type"] == "output")
        assert "3 rows on" in printed and "/loci-" in printed, events
        assert events[-1]["status"] == "done"
        listed = [f["path"] for f in c.get(f"{base}/files").json()["files"]]
        assert "report.txt" in listed
        assert c.get(f"{base}/files/report.txt").content == b"3 rows"

        # Stop interrupts code running on the gateway; the kernel keeps its state
        srv.model.enqueue("", [ToolCall("c2", "python", "x = 7\nimport time\ntime.sleep(300)")])
        after = c.post(f"{base}/messages", json={"text": "wait"}).json()["after"]
        wait_for(c, cid, "execution_start", after)
        c.post(f"{base}/interrupt", json={})
        events = drive(c, cid, after, "run")
        done = next(e for e in events if e["type"] == "execution_done")
        assert done["status"] == "interrupted" and events[-1]["status"] == "interrupted"

        # the gateway restarts: the next block runs on a new kernel, and the user is told
        gateway.restart()
        srv.model.enqueue("", [ToolCall("c3", "python", "print('x' in globals())")])
        srv.model.enqueue("The kernel is new.")
        after = c.post(f"{base}/messages", json={"text": "again"}).json()["after"]
        events = drive(c, cid, after, "run")
        printed = "".join(e["data"] for e in events if e["type"] == "output")
        assert "lost the Python kernel" in printed and "False" in printed
        assert events[-1]["status"] == "done"
    assert gateway.kernel_ids()
    srv.app.state.web.hub.close()  # what the server does on exit
    assert gateway.kernel_ids() == []
