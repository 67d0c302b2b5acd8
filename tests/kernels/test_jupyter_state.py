"""What a real ipykernel holds, as ``JupyterKernel.state`` reads it: silently and quickly,
without calling user code."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from loci.events import KernelResult, Output
from loci.kernel_state import SUMMARY_CHARS, KernelState
from loci.kernels.jupyter import JupyterKernel


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterKernel]:
    with JupyterKernel(tmp_path_factory.mktemp("workspace"), grace=1.0) as k:
        yield k


def run(kernel: JupyterKernel, code: str) -> list[Output]:
    *events, result = list(kernel.execute(code, timeout=30))
    assert isinstance(result, KernelResult) and result.status == "ok", result
    return [e for e in events if isinstance(e, Output)]


def look(kernel: JupyterKernel) -> KernelState:
    state = kernel.state()
    assert state is not None
    return state


def test_plain_names_imports_and_the_folder(kernel: JupyterKernel) -> None:
    run(kernel, "import os as o\nn = 42\ntext = 'hello'\ndef f(a, b=1):\n    return a\n_hid = 1")
    state = look(kernel)
    names = {v.name: v for v in state.variables}
    assert "_hid" not in names and "In" not in names and "open" not in names
    assert (names["n"].kind, names["n"].detail) == ("value", "42")
    assert names["text"].detail == "len 5" and names["f"].detail == "(a, b)"
    assert (names["o"].kind, names["o"].detail) == ("module", "os")
    assert state.cwd == str(Path(kernel.cwd).resolve())
    assert "Imported: os as o." in state.summary()


def test_the_look_is_silent_and_leaves_nothing_behind(kernel: JupyterKernel) -> None:
    count = "get_ipython().execution_count"
    before = run(kernel, f"print({count}, len(In))")[0].data
    look(kernel)
    look(kernel)
    after = run(kernel, f"print({count} - 1, len(In) - 1)")[0].data
    assert after == before  # no history, no count: the look is no execution
    outputs = run(kernel, "print(sorted(k for k in globals() if 'probe' in k))")
    assert [o.data for o in outputs] == ["[]\n"]


def test_pandas_frame_and_numpy_array(kernel: JupyterKernel) -> None:
    pytest.importorskip("pandas")
    run(
        kernel,
        "import numpy as np, pandas as pd\n"
        "df = pd.DataFrame({'PassengerId': [1, 2, 3], 'Name': ['a', 'b', 'c']})\n"
        "arr = np.zeros((4, 5), dtype='int32')",
    )
    state = look(kernel)
    names = {v.name: v for v in state.variables}
    assert names["df"].shape == (3, 2) and names["df"].columns == (
        ("PassengerId", "int64"),
        (("Name", names["df"].columns[1][1])),
    )
    assert (names["arr"].shape, names["arr"].dtype) == ((4, 5), "int32")
    text = state.summary()
    assert "df: DataFrame 3×2 (PassengerId:int64, Name:" in text
    assert "arr: ndarray 4×5 int32" in text


def test_scikit_learn_objects_by_class(kernel: JupyterKernel) -> None:
    # a stand-in with sklearn's module name, so this runs where scikit-learn is not installed
    run(
        kernel,
        "class LinearRegression:\n    pass\n"
        "LinearRegression.__module__ = 'sklearn.linear_model._base'\n"
        "model = LinearRegression()\nfit = LinearRegression()\nfit.coef_ = [1.0]",
    )
    names = {v.name: v for v in look(kernel).variables}
    assert (names["model"].kind, names["model"].detail) == ("model", "not fitted")
    assert names["fit"].detail == "fitted"
    assert "fit: LinearRegression fitted" in look(kernel).summary()


def test_real_scikit_learn_model(kernel: JupyterKernel) -> None:
    pytest.importorskip("sklearn")
    run(kernel, "from sklearn.linear_model import LinearRegression as LR\nlr = LR()")
    names = {v.name: v for v in look(kernel).variables}
    assert (names["lr"].type, names["lr"].kind) == ("LinearRegression", "model")


def test_hostile_objects_are_listed_by_type_and_never_called(kernel: JupyterKernel) -> None:
    run(
        kernel,
        "import time\n"
        "class Hostile:\n"
        "    def __repr__(self):\n        time.sleep(10)\n"
        "    __str__ = __repr__\n"
        "    def __len__(self):\n        time.sleep(10)\n"
        "    def __getattr__(self, name):\n        time.sleep(10)\n"
        "    @property\n    def __class__(self):\n        time.sleep(10)\n"
        "hostile = Hostile()",
    )
    started = time.monotonic()
    state = look(kernel)
    assert time.monotonic() - started < 0.5
    names = {v.name: v for v in state.variables}
    assert (names["hostile"].type, names["hostile"].kind) == ("Hostile", "object")
    assert "hostile: Hostile" in state.summary()


def test_what_changed_comes_first(kernel: JupyterKernel) -> None:
    run(kernel, "a_first = 1\nb_second = 2")
    look(kernel)
    run(kernel, "a_first = 10")
    state = look(kernel)
    changed = [v.name for v in state.variables if v.changed]
    assert changed == ["a_first"]
    assert state.summary().startswith("The Python session holds: a_first: int = 10;")


def test_thousands_of_names_and_a_10000_column_frame_stay_bounded(kernel: JupyterKernel) -> None:
    pytest.importorskip("pandas")
    run(
        kernel,
        "import numpy as np, pandas as pd\n"
        "wide = pd.DataFrame(np.zeros((3, 10000)))\n"
        "for i in range(5000):\n    globals()[f'v{i}'] = i",
    )
    started = time.monotonic()
    state = look(kernel)
    assert time.monotonic() - started < 0.5
    assert state.left_out > 0 and len(state.variables) <= 400
    text = state.summary()
    assert len(text) <= SUMMARY_CHARS and "more names" in text
    wide = {v.name: v for v in state.variables}["wide"]  # defined first: described
    assert wide.shape == (3, 10000) and len(wide.columns) == 30


def test_a_busy_kernel_gives_no_state_in_time(kernel: JupyterKernel) -> None:
    done: list[object] = []
    sleep = "import time; time.sleep(1.5)"
    block = threading.Thread(target=lambda: done.extend(kernel.execute(sleep)))
    block.start()
    time.sleep(0.3)  # the block holds the kernel now
    started = time.monotonic()
    assert kernel.state(timeout=0.3) is None
    assert time.monotonic() - started < 0.6
    block.join()
    assert isinstance(done[-1], KernelResult) and done[-1].status == "ok"
    assert look(kernel).variables  # and the next look works
