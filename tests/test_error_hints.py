"""What loci tells the model about a failed block, from what the kernel holds."""

from __future__ import annotations

from pathlib import Path

import pytest

from loci.approval import Decision, auto_approve
from loci.code_fixes import fixed_code
from loci.config import Settings
from loci.error_hints import hint
from loci.events import CodeBlock, ExecutionDone, Notice
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


def test_loci_proposes_the_code_again_with_the_name_fixed_and_the_model_reads_both(
    settings: Settings,
) -> None:
    (settings.workdir / "calls.csv").write_text("timestamp,num. calls abandoned \nApr 13,3\n")
    failing = (
        "```python\nimport pandas as pd\ndf = pd.read_csv('calls.csv')\n"
        "print(df['num. calls abandoned'].sum())\n```"
    )
    model = ScriptedModel([failing, "3 calls were abandoned."])
    with Session(settings, model=model, approver=auto_approve) as s:
        events = list(s.run("How many calls were abandoned in calls.csv?"))
        results = [m.content for m in s.messages if m.role == "tool"]
        ran = s.store.get_conversation(s.conversation_id).to_dict()
    notices = [e.message for e in events if isinstance(e, Notice)]
    assert (
        "a column name was wrong: 'num. calls abandoned' is 'num. calls abandoned ' (with a "
        "space at the end); proposing the code with the column names fixed"
    ) in notices
    blocks = [e.code for e in events if isinstance(e, CodeBlock)]
    assert blocks[1].endswith("print(df['num. calls abandoned '].sum())")  # shown, approved
    told, again = results[0].split("loci ran your code again with the column names fixed:")
    assert "KeyError" in told and "df has 'num. calls abandoned ' (with a space" in told
    assert again.rstrip().endswith("```\n3")  # the fixed code's output
    assert [e.status for e in events if isinstance(e, ExecutionDone)] == ["error", "ok"]
    assert events[-1].status == "done" and "3 calls" in str(ran)  # backed by that output


def test_a_declined_fix_leaves_the_error_and_the_hint(settings: Settings) -> None:
    (settings.workdir / "calls.csv").write_text("timestamp,num. calls abandoned \nApr 13,3\n")
    failing = (
        "```python\nimport pandas as pd\ndf = pd.read_csv('calls.csv')\n"
        "print(df['num. calls abandoned'].sum())\n```"
    )
    model = ScriptedModel([failing, "I could not read it."])

    def only_the_models(block: CodeBlock) -> Decision:
        return Decision(not block.id.startswith("fix"), "user")

    with Session(settings, model=model, approver=only_the_models) as s:
        events = list(s.run("How many calls were abandoned in calls.csv?"))
        results = [m.content for m in s.messages if m.role == "tool"]
    assert "df has 'num. calls abandoned '" in results[0]
    assert "loci ran your code again" not in results[0]
    assert [e.status for e in events if isinstance(e, ExecutionDone)] == ["error"]
