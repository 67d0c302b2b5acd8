"""The kernel state's value and summary (pure), and the session telling the model about it."""

from __future__ import annotations

import json

from loci.approval import auto_approve
from loci.config import Settings
from loci.kernel_state import SUMMARY_CHARS, KernelState, Variable, parse
from loci.kernels.fake import FakeKernel
from loci.kernels.pool import KernelPool
from loci.messages import ToolCall
from loci.models.scripted import ScriptedModel
from loci.session import Session

DF = Variable("df", "DataFrame", "pandas", "dataframe", (891, 12), columns=(("Age", "float64"),))


def answer(names: list[dict[str, object]], left_out: int = 0) -> dict[str, object]:
    """A user_expressions entry as ipykernel sends it: the repr of the probe's JSON string."""
    text = json.dumps({"cwd": "/work", "names": names, "left_out": left_out})
    return {"status": "ok", "data": {"text/plain": repr(text)}, "metadata": {}}


def test_parse_reads_the_probe_answer() -> None:
    state = parse(
        answer(
            [
                {
                    "name": "df",
                    "type": "DataFrame",
                    "module": "pandas",
                    "kind": "dataframe",
                    "shape": [891, 12],
                    "columns": [["Age", "float64"]],
                    "changed": True,
                },
                {"name": "np", "type": "module", "kind": "module", "detail": "numpy"},
                {"name": 3},  # not a name: dropped
            ],
            left_out=2,
        )
    )
    assert state is not None
    assert [v.name for v in state.variables] == ["df", "np"]
    assert state.variables[0].shape == (891, 12) and state.variables[0].changed
    assert state.cwd == "/work" and state.left_out == 2
    sent = json.loads(json.dumps(state.to_json()))
    assert sent["variables"][0]["columns"] == [["Age", "float64"]]


def test_parse_refuses_what_is_not_an_answer() -> None:
    assert parse({"status": "error", "ename": "NameError"}) is None
    assert parse({"status": "ok", "data": {"text/plain": "not python"}}) is None
    assert parse("[1, 2]") is None
    assert parse(None) is None


def test_summary_lists_changed_data_first_and_imports_apart() -> None:
    state = KernelState(
        (
            Variable("n", "int", "builtins", "value", detail="3"),
            DF,
            Variable(
                "model",
                "LinearRegression",
                "sklearn.linear_model",
                "model",
                detail="fitted",
                changed=True,
            ),
            Variable("pd", "module", kind="module", detail="pandas"),
        ),
        cwd="/work",
    )
    text = state.summary()
    assert text.startswith("The Python session holds: model: LinearRegression fitted; df: ")
    assert "df: DataFrame 891×12 (Age:float64, …)" in text
    assert "n: int = 3" in text
    assert "Imported: pandas as pd." in text and text.endswith("Working directory: /work")


def test_summary_stays_under_its_cap_with_thousands_of_names() -> None:
    many = tuple(Variable(f"v{i}", "int", kind="value", detail=str(i)) for i in range(5000))
    state = KernelState(many, cwd="/w", left_out=100)
    text = state.summary()
    assert len(text) <= SUMMARY_CHARS
    shown = text.count(": int")
    assert f"… and {5000 - shown + 100} more names" in text


def test_summary_cuts_a_huge_frame_to_its_cap() -> None:
    cols = tuple((f"column_with_a_long_name_{i}", "float64") for i in range(30))
    wide = Variable("wide", "DataFrame", "pandas", "dataframe", (5, 10000), columns=cols)
    text = KernelState((wide, DF)).summary(cap=400)
    assert len(text) <= 400 and "wide: DataFrame 5×10000" in text


def test_the_model_is_told_what_the_kernel_holds_after_a_block(
    settings: Settings, fake_pool: KernelPool, fakes: dict[str, FakeKernel]
) -> None:
    model = ScriptedModel()
    model.enqueue("", tool_calls=[ToolCall("c1", "python", "df = load()")])
    model.enqueue("Done.")
    with Session(settings, model=model, kernels=fake_pool, approver=auto_approve) as s:
        fake = s.kernels.get("python")
        assert isinstance(fake, FakeKernel)
        fake.holds = KernelState((DF,), cwd=str(settings.workdir))
        list(s.run("load the data"))
        assert s.kernels.state == fake.holds
    first, second = (call[0].content for call in model.calls)
    assert "The Python session holds" not in first  # nothing had run yet
    assert "The Python session holds: df: DataFrame 891×12 (Age:float64, …)" in second
    assert fakes["python"].state_asked == 1
    assert fakes["python"].executed == ["df = load()"]  # the look is no execution


def test_a_shell_block_asks_nothing_and_a_restart_forgets(
    settings: Settings, fake_pool: KernelPool, fakes: dict[str, FakeKernel]
) -> None:
    python = fake_pool.get("python")
    assert isinstance(python, FakeKernel)
    python.holds = KernelState((DF,))
    assert fake_pool.look(python) == python.holds
    assert fake_pool.look(fake_pool.get("shell")) == python.holds
    fake_pool.restart("python")
    assert fake_pool.state is None


def test_turned_off_the_model_is_not_told(
    settings: Settings, fake_pool: KernelPool, fakes: dict[str, FakeKernel]
) -> None:
    from dataclasses import replace

    model = ScriptedModel()
    model.enqueue("", tool_calls=[ToolCall("c1", "python", "df = load()")])
    model.enqueue("Done.")
    quiet = replace(settings, kernel_state=False)
    with Session(quiet, model=model, kernels=fake_pool, approver=auto_approve) as s:
        fake = s.kernels.get("python")
        assert isinstance(fake, FakeKernel)
        fake.holds = KernelState((DF,), cwd=str(settings.workdir))
        list(s.run("load the data"))
        assert s.kernels.state == fake.holds  # %vars and the API still show it
    assert all("The Python session holds" not in call[0].content for call in model.calls)
