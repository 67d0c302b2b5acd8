"""What loci tells the model about a failed block, from what the kernel holds."""

from __future__ import annotations

from pathlib import Path

import pytest

from loci.approval import auto_approve
from loci.config import Settings
from loci.error_hints import hint
from loci.events import ExecutionDone
from loci.files import describe
from loci.kernel_state import KernelState, Variable
from loci.models.scripted import ScriptedModel
from loci.session import Session

DF = Variable(
    "df",
    "DataFrame",
    "pandas.core.frame",
    "dataframe",
    (2, 3),
    columns=(("num. calls abandoned ", "int64"), ("Country", "object"), ("Score", "float64")),
)
STATE = KernelState((DF,))
PANDAS_TB = "KeyError Traceback\nFile .../site-packages/pandas/core/indexes/base.py:3812"


def _failed(name: str, value: str) -> ExecutionDone:
    return ExecutionDone(1, "error", 0.1, error_name=name, error_value=value)


@pytest.mark.parametrize(
    ("value", "told"),
    [
        ("'num. calls abandoned'", "df has 'num. calls abandoned ' (with a space at the end)"),
        ("\"['num. calls abandoned'] not in index\"", "df has 'num. calls abandoned '"),
        ("'num_calls_abandoned'", "df has 'num. calls abandoned '"),
        ("\"None of [Index(['score'], dtype='object')] are in the [columns]\"", "df has 'Score'"),
        ("'Happiness'", "df's columns: 'num. calls abandoned ' (with a space at the end), "),
    ],
)
def test_a_missing_column_is_met_with_the_real_names(value: str, told: str) -> None:
    text = hint(_failed("KeyError", value), STATE, PANDAS_TB)
    assert told in text


def test_a_groupby_names_its_missing_columns_in_its_own_words() -> None:
    one = hint(_failed("KeyError", "'Column not found: num_calls_abandoned'"), STATE, "pandas")
    assert "No column is named 'num_calls_abandoned'; df has 'num. calls abandoned '" in one
    two = _failed("KeyError", "\"Columns not found: 'score', 'country'\"")
    assert "df has 'Score'" in hint(two, STATE, "pandas")
    assert "df has 'Country'" in hint(two, STATE, "pandas")


def test_no_hint_where_loci_cannot_tell() -> None:
    assert hint(_failed("KeyError", "'Country'"), STATE, PANDAS_TB) == ""  # it is a column
    assert hint(_failed("KeyError", "0"), STATE, PANDAS_TB) == ""  # not a name
    assert hint(_failed("KeyError", "'x'"), STATE, "Traceback: d['x']") == ""  # a dict's key
    assert hint(_failed("ZeroDivisionError", "division by zero"), STATE, "") == ""
    assert hint(_failed("KeyError", "'x'"), None, PANDAS_TB) == ""  # no look at the kernel
    assert hint(_failed("KeyError", "'x'"), KernelState(()), PANDAS_TB) == ""  # no frame
    ok = ExecutionDone(1, "ok", 0.1)
    assert hint(ok, STATE, PANDAS_TB) == ""


def test_text_in_a_numeric_computation_names_the_text_columns() -> None:
    text = hint(_failed("ValueError", "could not convert string to float: 'Switzerland'"), STATE)
    assert "df has text columns ('Country')" in text
    assert "select_dtypes('number')" in text and "numeric_only=True" in text
    reduction = _failed("TypeError", "Cannot perform reduction 'mean' with string dtype")
    assert "'Country'" in hint(reduction, STATE)
    assert hint(_failed("ValueError", "math domain error"), STATE) == ""


def test_a_file_preview_shows_a_column_name_that_ends_in_a_space(tmp_path: Path) -> None:
    path = tmp_path / "calls.csv"
    path.write_text("timestamp,num. calls abandoned , AT\nApr 13,0,1\n")
    text = describe(path)
    assert "timestamp (text)" in text
    assert "'num. calls abandoned ' (int)" in text and "' AT' (int)" in text


def test_the_model_reads_the_real_column_name_after_a_key_error(settings: Settings) -> None:
    (settings.workdir / "calls.csv").write_text("timestamp,num. calls abandoned \nApr 13,3\n")
    model = ScriptedModel(
        [
            "```python\nimport pandas as pd\ndf = pd.read_csv('calls.csv')\n"
            "print(df['num. calls abandoned'].sum())\n```",
            "```python\nprint(df['num. calls abandoned '].sum())\n```",
            "3",
        ]
    )
    with Session(settings, model=model, approver=auto_approve) as s:
        list(s.run("How many calls were abandoned in calls.csv?"))
        results = [m.content for m in s.messages if m.role == "tool"]
    assert "KeyError" in results[0]
    assert "df has 'num. calls abandoned ' (with a space at the end)" in results[0]
    assert results[1].strip() == "3"
