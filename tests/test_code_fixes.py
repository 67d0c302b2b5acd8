"""The block loci proposes again where the fix is certain: a column name, a keyword argument."""

from __future__ import annotations

import pytest

from loci.approval import Approver, Decision, auto_approve
from loci.code_fixes import fixed_code
from loci.config import Settings
from loci.events import CodeBlock, Event, ExecutionDone, Notice
from loci.models.scripted import ScriptedModel
from loci.session import Session


def _ask(
    settings: Settings, replies: list[str], request: str, approver: Approver = auto_approve
) -> tuple[list[Event], list[str], str]:
    """The events of ``request`` answered by ``replies``, the tool results the model read and
    the conversation as stored."""
    with Session(settings, model=ScriptedModel(replies), approver=approver) as s:
        events = list(s.run(request))
        stored = str(s.store.get_conversation(s.conversation_id).to_dict())
        return events, [m.content for m in s.messages if m.role == "tool"], stored


def _type_error(value: str) -> ExecutionDone:
    return ExecutionDone(1, "error", 0.1, error_name="TypeError", error_value=value)


SKLEARN = "LinearRegression.__init__() got an unexpected keyword argument 'max_iter'"


CASES = {  # the code, and the code loci proposes
    "m = LinearRegression(max_iter=1000)\nm.fit(X, y)": "m = LinearRegression()\nm.fit(X, y)",
    "m = lm.LinearRegression(True, max_iter=5)": "m = lm.LinearRegression(True)",
    "m = LinearRegression(max_iter=5, n_jobs=2)": "m = LinearRegression(n_jobs=2)",
    "m = LinearRegression(\n    n_jobs=2,\n    max_iter=5,\n)": (
        "m = LinearRegression(\n    n_jobs=2,\n)"
    ),
    "a = LinearRegression(max_iter=1)\nb = LinearRegression(n_jobs=1, max_iter=2)": (
        "a = LinearRegression()\nb = LinearRegression(n_jobs=1)"
    ),
    "t = 'é'; m = LinearRegression(max_iter=f('é'))": "t = 'é'; m = LinearRegression()",
}


@pytest.mark.parametrize(("code", "fixed"), CASES.items())
def test_the_keyword_is_dropped_from_every_call_of_that_name(code: str, fixed: str) -> None:
    fix = fixed_code(_type_error(SKLEARN), None, "", code)
    assert fix is not None and fix.code == fixed


def test_the_notice_says_what_the_function_does_not_take() -> None:
    fix = fixed_code(_type_error(SKLEARN), None, "", "m = LinearRegression(max_iter=1000)")
    assert fix is not None
    assert fix.notice() == (
        "LinearRegression() takes no argument max_iter; proposing the code without max_iter=1000"
    )
    c_error = _type_error("'color' is an invalid keyword argument for print()")
    assert fixed_code(c_error, None, "", "print(1, color='red')") is not None


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (SKLEARN, "m = make(LinearRegression, max_iter=5)"),  # not a call of that name
        (SKLEARN, "m = LinearRegression(**{'max_iter': 5})"),  # not typed as a keyword
        (SKLEARN, "m = LinearRegression(max_iter=5"),  # does not parse
        ("'reversed' is an invalid keyword argument for sort()", "sorted(x, reversed=True)"),
        ("unsupported operand type(s) for +: 'int' and 'str'", "1 + 'a'"),
    ],
)
def test_no_fix_where_loci_cannot_be_sure(error: str, code: str) -> None:
    assert fixed_code(_type_error(error), None, "", code) is None


def test_loci_runs_the_call_without_the_keyword_in_a_real_kernel(settings: Settings) -> None:
    failing = (
        "```python\ndef area(width, height):\n    return width * height\n\n"
        "print(area(3, height=4, units='cm'))\n```"
    )
    events, results, stored = _ask(
        settings, [failing, "The area is 12."], "Area of a 3 by 4 rectangle?"
    )
    notices = [e.message for e in events if isinstance(e, Notice)]
    assert "area() takes no argument units; proposing the code without units='cm'" in notices
    blocks = [e.code for e in events if isinstance(e, CodeBlock)]
    assert blocks[1].endswith("print(area(3, height=4))")
    told, again = results[0].split("loci ran your code again without units='cm':")
    assert "unexpected keyword argument 'units'" in told
    assert again.rstrip().endswith("```\n12")
    assert [e.status for e in events if isinstance(e, ExecutionDone)] == ["error", "ok"]
    assert events[-1].status == "done" and "The area is 12." in stored


CALLS = "How many calls were abandoned in calls.csv?"


def test_loci_proposes_the_code_again_with_the_name_fixed_and_the_model_reads_both(
    settings: Settings,
) -> None:
    (settings.workdir / "calls.csv").write_text("timestamp,num. calls abandoned \nApr 13,3\n")
    failing = (
        "```python\nimport pandas as pd\ndf = pd.read_csv('calls.csv')\n"
        "print(df['num. calls abandoned'].sum())\n```"
    )
    events, results, stored = _ask(settings, [failing, "3 calls were abandoned."], CALLS)
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
    assert events[-1].status == "done" and "3 calls" in stored  # backed by that output


def test_a_declined_fix_leaves_the_error_and_the_hint(settings: Settings) -> None:
    (settings.workdir / "calls.csv").write_text("timestamp,num. calls abandoned \nApr 13,3\n")
    failing = (
        "```python\nimport pandas as pd\ndf = pd.read_csv('calls.csv')\n"
        "print(df['num. calls abandoned'].sum())\n```"
    )

    def only_the_models(block: CodeBlock) -> Decision:
        return Decision(not block.id.startswith("fix"), "user")

    events, results, _ = _ask(settings, [failing, "I could not read it."], CALLS, only_the_models)
    assert "df has 'num. calls abandoned '" in results[0]
    assert "loci ran your code again" not in results[0]
    assert [e.status for e in events if isinstance(e, ExecutionDone)] == ["error"]
