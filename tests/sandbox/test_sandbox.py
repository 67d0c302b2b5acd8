"""The sandbox: command lines, honesty about what is enforced, and real confinement."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from sandbox_helpers import CONFINES, needs_sandbox

from loci.config import load_settings
from loci.kernels.pool import KernelPool
from loci.sandbox import Limits, Sandbox, Support, ensure_venv
from loci.sandbox.core import _LAUNCH

NO_BWRAP = Support(None, "bubblewrap (bwrap) is not installed")
BWRAP = Support("/usr/bin/bwrap", user_namespace=True)


def test_workspace_mode_command_line(tmp_path: Path) -> None:
    work, home = tmp_path / "work", tmp_path / "work" / ".loci"
    home.mkdir(parents=True)
    box = Sandbox("workspace", work, home, network=False, support=BWRAP)
    argv = box.command(["bash"], private=[tmp_path])
    text = " ".join(argv)
    assert argv[:5] == [sys.executable, "-I", "-S", _LAUNCH, "outer"]
    assert "--ro-bind / /" in text and "--unshare-net" in text and "--unshare-pid" in text
    assert f"--bind {work} {work}" in text
    # the history database is hidden even inside the workspace: mounted over after it
    assert text.index(f"--tmpfs {home}") > text.index(f"--bind {work} {work}")
    assert text.index(f"--remount-ro {home}") > text.index(f"--tmpfs {home}")
    assert argv[-1] == "bash" and "--drop-caps" in argv
    assert box.label == "workspace,no-network"


def test_readonly_binds_the_workspace_read_only(tmp_path: Path) -> None:
    box = Sandbox("readonly", tmp_path, tmp_path / "h", support=BWRAP)
    text = " ".join(box.bwrap_args())
    assert f"--ro-bind {tmp_path} {tmp_path}" in text and f"--bind {tmp_path} " not in text


def test_off_still_applies_limits_and_says_so(tmp_path: Path) -> None:
    box = Sandbox("off", tmp_path, tmp_path, limits=Limits(memory_mb=512), support=BWRAP)
    argv = box.command(["bash"])
    assert "bwrap" not in " ".join(argv) and argv[argv.index("--memory") + 1] == str(512 << 20)
    assert box.label == "off" and "full rights" in box.describe()
    assert box.warning() is None


def test_where_the_os_cannot_confine_it_says_so(tmp_path: Path) -> None:
    box = Sandbox("workspace", tmp_path, tmp_path, network=False, support=NO_BWRAP)
    assert not box.active and box.label == "off"
    warning = box.warning() or ""
    assert "NOT enforced" in warning and "bubblewrap" in warning and "approvals" in warning
    assert "bwrap" not in " ".join(box.command(["bash"]))


def test_from_settings(tmp_path: Path) -> None:
    settings = load_settings(
        {"workdir": tmp_path, "sandbox": "readonly", "network": False, "max_output_mb": 2}
    )
    box = Sandbox.from_settings(settings)
    assert (box.mode, box.network, box.limits.output_bytes) == ("readonly", False, 2 << 20)


def test_launcher_applies_the_memory_limit() -> None:
    code = "import resource; print(resource.getrlimit(resource.RLIMIT_AS)[0])"
    argv = [sys.executable, "-I", "-S", _LAUNCH, "inner", "--memory", str(300 << 20), "--"]
    out = subprocess.run([*argv, sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == str(300 << 20), out.stderr


def test_kernel_venv_sees_lois_packages(tmp_path: Path) -> None:
    python = ensure_venv(tmp_path)
    assert ensure_venv(tmp_path) == python  # made once
    code = "import sys, ipykernel; print(sys.prefix)"
    out = subprocess.run([str(python), "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == str(python.parent.parent), out.stderr
    assert (python.parent / "pip").exists()


def _run(pool: KernelPool, language: str, code: str) -> str:
    kernel = pool.get(language)
    return "".join(getattr(e, "data", "") for e in kernel.execute(code, timeout=20))


@needs_sandbox
def test_readonly_writes_nowhere_but_temp(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    box = Sandbox("readonly", work, tmp_path / "home")
    with KernelPool(work, sandbox=box) as pool:
        out = _run(pool, "shell", "touch here.txt; touch /tmp/scratch && echo temp-ok")
    assert "Read-only file system" in out and "temp-ok" in out
    assert not (work / "here.txt").exists()


@needs_sandbox
def test_workspace_mode_package_installs_go_to_the_kernel_venv(tmp_path: Path) -> None:
    work, home = tmp_path / "work", tmp_path / "home"
    work.mkdir()
    wheel = work / "lociprobe-1.0-py3-none-any.whl"  # the host /tmp is hidden; the workspace not
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("lociprobe/__init__.py", "VALUE = 42\n")
        info = "lociprobe-1.0.dist-info/"
        zf.writestr(info + "METADATA", "Metadata-Version: 2.1\nName: lociprobe\nVersion: 1.0\n")
        wheel_info = "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        zf.writestr(info + "WHEEL", wheel_info)
        zf.writestr(info + "RECORD", "")
    box = Sandbox("workspace", work, home, network=False)
    with KernelPool(work, sandbox=box) as pool:
        install = f"pip install -q --no-index {wheel} 2>&1; echo rc=$?"
        out = _run(pool, "shell", install)
        assert "rc=0" in out, out
        assert "42" in _run(pool, "python", "import lociprobe; print(lociprobe.VALUE)")
    assert list((home / "venvs").glob("*/lib/*/site-packages/lociprobe*"))


@pytest.mark.skipif(CONFINES, reason="this machine can confine")
def test_no_sandbox_here_means_off(tmp_path: Path) -> None:
    assert Sandbox("workspace", tmp_path, tmp_path).label == "off"


@needs_sandbox
def test_a_workspace_inside_loci_home_stays_writable(tmp_path: Path) -> None:
    home = tmp_path / "home"
    workspace = home / "workspaces" / "7"
    workspace.mkdir(parents=True)
    (home / "history.db").write_text("db")
    sandbox = Sandbox("workspace", workspace, home)
    argv = sandbox.command(["sh", "-c", "echo ok > made.txt; echo x > ../../history.db"])
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert (workspace / "made.txt").read_text() == "ok\n"
    assert (home / "history.db").read_text() == "db"  # the rest of LOCI_HOME stays read-only
    assert done.returncode != 0
