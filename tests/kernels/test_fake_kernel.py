"""FakeKernel: the scripted kernel other tests rely on."""

from __future__ import annotations

import threading

from loci.events import KernelResult, Output
from loci.kernels import FakeKernel, Kernel


def test_is_a_kernel() -> None:
    assert isinstance(FakeKernel(), Kernel)


def test_replays_queued_events_once_then_ok() -> None:
    kernel = FakeKernel()
    kernel.enqueue(Output(stream="stdout", data="4\n"), KernelResult(status="ok"))
    assert list(kernel.execute("print(2 + 2)")) == [
        Output(stream="stdout", data="4\n"),
        KernelResult(status="ok"),
    ]
    assert list(kernel.execute("x", timeout=3)) == [KernelResult(status="ok")]
    assert kernel.executed == ["print(2 + 2)", "x"]
    assert kernel.timeouts == [None, 3]


def test_script_without_result_gets_ok_appended() -> None:
    kernel = FakeKernel("shell").enqueue(Output(stream="stderr", data="warn"))
    assert list(kernel.execute("ls"))[-1] == KernelResult(status="ok")
    assert kernel.language == "shell"


def test_error_result_is_kept() -> None:
    kernel = FakeKernel()
    kernel.enqueue(KernelResult(status="error", error_name="NameError", error_value="x"))
    assert list(kernel.execute("x")) == [
        KernelResult(status="error", error_name="NameError", error_value="x")
    ]


def test_cancel_set_interrupts() -> None:
    cancel = threading.Event()
    cancel.set()
    kernel = FakeKernel().enqueue(Output(stream="stdout", data="never"))
    assert list(kernel.execute("loop", cancel=cancel)) == [
        KernelResult(status="interrupted", message="interrupted")
    ]


def test_lifecycle_counters() -> None:
    with FakeKernel() as kernel:
        assert kernel.started
        kernel.interrupt()
        kernel.restart()
        kernel.restart()
    assert (kernel.interrupts, kernel.restarts, kernel.shutdowns) == (1, 2, 1)
