"""KernelPool: one lazily created kernel per language; normalize_language."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from loci.errors import KernelError
from loci.events import Output
from loci.kernels import FakeKernel, JupyterKernel, KernelPool, ShellKernel, normalize_language


@pytest.mark.parametrize(
    ("tag", "language"),
    [
        ("python", "python"),
        ("py", "python"),
        ("Python3", "python"),
        ("ipython", "python"),
        ("", "python"),
        (None, "python"),
        ("python title=x.py", "python"),
        ("bash", "shell"),
        ("sh", "shell"),
        ("shell", "shell"),
        ("zsh", "shell"),
        ("console", "shell"),
        ("terminal", "shell"),
        ("javascript", None),
        ("r", None),
        ("text", None),
    ],
)
def test_normalize_language(tag: str | None, language: str | None) -> None:
    assert normalize_language(tag) == language


@pytest.fixture
def fakes() -> dict[str, FakeKernel]:
    return {}


@pytest.fixture
def pool(tmp_path: Path, fakes: dict[str, FakeKernel]) -> KernelPool:
    def factory(language: str) -> FakeKernel:
        fakes[language] = FakeKernel(language, workdir=tmp_path)
        return fakes[language]

    return KernelPool(tmp_path, factory=factory)


def test_one_kernel_per_language_created_lazily(
    pool: KernelPool, fakes: dict[str, FakeKernel]
) -> None:
    assert pool.started() == []
    py = pool.get("py")
    assert pool.get("python") is py
    assert pool.get("bash") is pool.get("sh")
    assert sorted(fakes) == ["python", "shell"]
    assert fakes["python"].started


def test_unsupported_language(pool: KernelPool) -> None:
    with pytest.raises(KernelError, match="cannot run 'ruby'"):
        pool.get("ruby")


def test_interrupt_restart_shutdown(pool: KernelPool, fakes: dict[str, FakeKernel]) -> None:
    with pool:
        pool.get("python")
        pool.get("shell")
        pool.interrupt_all()
        pool.restart("py")
        pool.restart("javascript")  # nothing to restart: ignored
    assert [fakes[n].interrupts for n in ("python", "shell")] == [1, 1]
    assert [fakes[n].restarts for n in ("python", "shell")] == [1, 0]
    assert [fakes[n].shutdowns for n in ("python", "shell")] == [1, 1]
    pool.shutdown_all()  # idempotent
    assert fakes["python"].shutdowns == 1
    assert pool.started() == []


def test_prestart_in_the_background(pool: KernelPool, fakes: dict[str, FakeKernel]) -> None:
    pool.prestart("python").join(5)
    assert fakes["python"].started


def test_default_factory_with_real_kernels(tmp_path: Path, gone: Callable[[int], bool]) -> None:
    with KernelPool(tmp_path) as pool:
        pool.prestart("python")  # the session starts python while the model answers
        python = pool.get("python")
        shell = pool.get("bash")
        assert isinstance(python, JupyterKernel) and isinstance(shell, ShellKernel)
        events = list(python.execute("print(6 * 7)"))
        assert events[0] == Output(stream="stdout", data="42\n")
        events = list(shell.execute("echo hi"))
        assert events[0] == Output(stream="stdout", data="hi\n")
        pids = [python.pid, shell.pid]
    assert all(pid is not None and gone(pid) for pid in pids)
