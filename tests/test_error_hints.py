"""What loci tells the model about a failed block, from what the kernel holds."""

from __future__ import annotations

from pathlib import Path

import pytest

from loci.code_fixes import fixed_code
from loci.error_hints import hint
from loci.events import ExecutionDone
from loci.files import describe
from loci.kernel_state import KernelState, Variable

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


WIND = Variable(
    "df",
    "DataFrame",
    "pandas.core.frame",
    "dataframe",
    (2, 3),
    columns=((" WINDSPEED", "float64"), (" DIR", "int64"), ("Sex", "object")),
)


def test_the_fix_is_the_code_with_the_column_names_written_as_the_frame_has_them() -> None:
    code = (
        "df = pd.read_csv('b.csv')\n"
        "x = df[df['DIR'] == 180]['WINDSPEED'].mean()  # 'DIR'\n"
        "print(f\"{x} WINDSPEED\", df['Sex'] == 'male', 'wind speed:')\n"
    )
    fixed = fixed_code(_failed("KeyError", "'DIR'"), KernelState((WIND,)), PANDAS_TB, code)
    assert fixed is not None and fixed.code == (
        "df = pd.read_csv('b.csv')\n"
        "x = df[df[' DIR'] == 180][' WINDSPEED'].mean()  # 'DIR'\n"  # the next KeyError too
        "print(f\"{x} WINDSPEED\", df['Sex'] == 'male', 'wind speed:')"
    )  # comments, f-strings and values left as they were
    assert fixed.notice() == (
        "a column name was wrong: 'DIR' is ' DIR' (with a space at the start); "
        "'WINDSPEED' is ' WINDSPEED' (with a space at the start); "
        "proposing the code with the column names fixed"
    )


def test_no_fix_when_the_name_is_only_near_or_not_typed() -> None:
    state = KernelState((WIND,))
    near = _failed("KeyError", "'WINDSPED'")
    assert "df has ' WINDSPEED'" in hint(near, state, PANDAS_TB)
    assert fixed_code(near, state, PANDAS_TB, "df['WINDSPED']") is None  # a guess is not a fix
    dir_ = _failed("KeyError", "'DIR'")
    assert fixed_code(dir_, state, PANDAS_TB, "df['D' + 'IR']") is None  # built, not typed
    assert fixed_code(dir_, state, PANDAS_TB, "df['DIR'\n'''") is None  # does not tokenize
    assert fixed_code(dir_, state, "d['DIR']", "d['DIR']") is None  # not pandas' KeyError


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
