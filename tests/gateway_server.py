"""A real Jupyter Kernel Gateway on 127.0.0.1 for the gateway kernel tests.

    with GatewayServer(tmp_path) as gw:      # python -m jupyter kernelgateway … in tmp_path
        GatewayKernel(gw.url, workdir, token=gw.token)
        gw.restart()                         # stop it, start a new one on the same port/token
        gw.kernel_ids()                      # GET /api/kernels

``bash=True`` / ``scheme=True`` also offer a "bash" (bash_kernel) / "calysto_scheme" (Calysto
Scheme, language "scheme") kernelspec, run by this Python, when those packages are importable.

The gateway runs in its own process group; ``stop`` sends SIGTERM (the gateway shuts its kernels
down) and SIGKILL after a while. Importable by name from any test folder (``tests/`` is on
``sys.path`` through ``tests/conftest.py``).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

__all__ = ["GatewayServer", "free_port", "have_bash_kernel", "have_gateway", "have_scheme_kernel"]


def have_gateway() -> bool:
    """Whether jupyter_kernel_gateway is installed for this Python."""
    return importlib.util.find_spec("kernel_gateway") is not None


def have_bash_kernel() -> bool:
    """Whether bash_kernel is importable (then ``bash=True`` gateways offer a "bash" spec)."""
    return importlib.util.find_spec("bash_kernel") is not None


def have_scheme_kernel() -> bool:
    """Whether calysto_scheme is importable (then ``scheme=True`` gateways offer a
    "calysto_scheme" spec)."""
    return importlib.util.find_spec("calysto_scheme") is not None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class GatewayServer:
    """One ``jupyter kernelgateway`` process on 127.0.0.1 with a random token."""

    def __init__(
        self,
        root: Path,
        *,
        port: int | None = None,
        token: str | None = None,
        bash: bool = False,
        scheme: bool = False,
    ) -> None:
        self.root = Path(root)
        self.bash = bash  # also offer a "bash" kernelspec (bash_kernel run by this Python)
        self.scheme = scheme  # and a "calysto_scheme" one (language "scheme")
        self.port = port or free_port()
        self.token = token or secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = self.root / "gateway.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "jupyter", "kernelgateway",
            "--KernelGatewayApp.ip=127.0.0.1",
            f"--KernelGatewayApp.port={self.port}",
            "--KernelGatewayApp.port_retries=0",
            f"--KernelGatewayApp.auth_token={self.token}",
            "--KernelGatewayApp.prespawn_count=0",
            "--JupyterWebsocketPersonality.list_kernels=True",
        ]  # fmt: skip

    def start(self, timeout: float = 60.0) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(self.root / "runtime"))
        if self.bash:
            self._add_spec("bash", "bash_kernel", "Bash", "bash")
        if self.scheme and have_scheme_kernel():
            self._add_spec("calysto_scheme", "calysto_scheme", "Calysto Scheme", "scheme")
        if self.bash or self.scheme:
            env["JUPYTER_PATH"] = str(self.root / "share")
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                self.command(),
                cwd=self.root,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the gateway exited at start:\n{self.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if self.get("/api/kernelspecs").status_code == 200:
                    return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the gateway did not answer within {timeout}s:\n{self.log_tail()}")

    def _add_spec(self, name: str, module: str, display_name: str, language: str) -> None:
        """A kernelspec ``name`` that runs ``python -m module`` with this Python."""
        spec = {
            "argv": [sys.executable, "-m", module, "-f", "{connection_file}"],
            "display_name": display_name,
            "language": language,
            "env": {"PYTHONPATH": os.pathsep.join(p for p in sys.path if p)},
        }
        folder = self.root / "share" / "kernels" / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

    def restart(self) -> None:
        """Stop the gateway (its kernels go with it) and start a new one on the same port."""
        self.stop()
        self.start()

    def get(self, path: str) -> httpx.Response:
        headers = {"Authorization": f"token {self.token}"}
        return httpx.get(self.url + path, headers=headers, timeout=5.0)

    def kernel_ids(self) -> list[str]:
        return [str(kernel["id"]) for kernel in self.get("/api/kernels").json()]

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> GatewayServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
