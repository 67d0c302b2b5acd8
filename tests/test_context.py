from __future__ import annotations

from loci.context import fit_history, fold_fixed, format_result, trim_text
from loci.events import ExecutionDone, Output
from loci.messages import Message, ToolCall


def count(text: str) -> int:
    return len(text) // 4 + 1


def test_trim_keeps_head_and_tail_and_says_where_the_rest_is() -> None:
    text = "".join(f"line {i}\n" for i in range(10_000))
    out = trim_text(text, 1000, where="execution #7")
    assert out.startswith("line 0\n")
    assert out.rstrip().endswith("line 9999")
    assert "execution #7" in out and str(len(text)) in out
    assert len(out) < 1200


def test_short_text_untouched() -> None:
    assert trim_text("abc", 10) == "abc"


def test_format_result_ok_error_and_empty() -> None:
    ok = ExecutionDone(1, "ok", 0.1)
    assert format_result([Output("stdout", "42\n")], ok) == "42"
    assert format_result([], ok) == "(no output: nothing was printed)"
    img = Output("display", "AAAA", mime="image/png", path="/w/loci_outputs/1.png")
    assert "/w/loci_outputs/1.png" in format_result([img], ok)
    err = ExecutionDone(2, "error", 0.1, error_name="ZeroDivisionError", error_value="x")
    tb = "\n".join(f"frame {i}" for i in range(50)) + "\nZeroDivisionError: division by zero"
    text = format_result([Output("error", tb, text="ZeroDivisionError: x")], err)
    assert "ZeroDivisionError: division by zero" in text
    assert "frame 0\n" not in text  # only the end of a long traceback
    shell = ExecutionDone(3, "error", 0.1, exit_code=2)
    assert "[exit status 2]" in format_result([Output("stderr", "no such file\n")], shell)
    timeout = ExecutionDone(4, "timeout", 5, message="timed out after 5s")
    assert "[timeout: timed out after 5s]" in format_result([], timeout)


PANDAS_TB = """\
KeyError                                  Traceback (most recent call last)
File /v/site-packages/pandas/core/indexes/base.py:3816, in Index.get_loc(self, key)
-> 3816     return self._engine.get_loc(casted_key)
KeyError: 'WINDSPEED'

The above exception was the direct cause of the following exception:

KeyError                                  Traceback (most recent call last)
Cell In[1], line 7
      6 # Calculate the mean wind speed
----> 7 mean_windspeed = df['WINDSPEED'].mean()
      8

File /v/site-packages/pandas/core/indexes/base.py:3823, in Index.get_loc(self, key)
-> 3823     raise KeyError(key) from err
   3824 except TypeError:
   3825     # If we have a listlike key, _check_indexing_error will raise
   3828     self._check_indexing_error(key)

KeyError: 'WINDSPEED'"""


def test_a_traceback_is_cut_to_the_failed_line_of_the_code_and_the_error() -> None:
    err = ExecutionDone(2, "error", 0.1, error_name="KeyError", error_value="'WINDSPEED'")
    text = format_result([Output("error", PANDAS_TB)], err)
    assert text == (
        "Cell In[1], line 7\n----> 7 mean_windspeed = df['WINDSPEED'].mean()\n"
        "KeyError: 'WINDSPEED'\n[error: KeyError]"
    )  # not pandas' own lines, whose numbers a small model took for a result
    syntax = "Cell In[2], line 5\n    x = (1\n        ^\nSyntaxError: '(' was never closed"
    err = ExecutionDone(3, "error", 0.1, error_name="SyntaxError", error_value="x")
    assert "        ^\nSyntaxError" in format_result([Output("error", syntax)], err)


def test_fit_history_drops_oldest_but_keeps_system_and_last_request() -> None:
    system = Message("system", "sys")
    old = [Message("user", "old " * 400), Message("assistant", "reply " * 400)]
    call = ToolCall("c1", "python", "print(1)")
    recent = [
        Message("user", "question"),
        Message("assistant", "", (call,)),
        Message("tool", "1", tool_call_id="c1"),
    ]
    out = fit_history([system, *old, *recent], count, budget=200)
    assert out[0] == system
    assert out[1:] == recent


def test_fit_history_never_starts_with_orphan_tool_result() -> None:
    call = ToolCall("c1", "python", "x" * 2000)
    msgs = [
        Message("system", "s"),
        Message("assistant", "", (call,)),
        Message("tool", "1", tool_call_id="c1"),
        Message("user", "q"),
    ]
    out = fit_history(msgs, count, budget=50)
    assert [m.role for m in out] == ["system", "user"]


def test_fit_history_trims_a_single_huge_message() -> None:
    msgs = [Message("system", "s"), Message("user", "x" * 100_000)]
    out = fit_history(msgs, count, budget=1000)
    assert len(out[-1].content) < 10_000


def _attempt(n: int, code: str, result: str) -> list[Message]:
    call = ToolCall(f"c{n}", "python", code)
    return [Message("assistant", "", (call,)), Message("tool", result, tool_call_id=call.id)]


def test_failed_attempts_are_folded_out_once_later_code_ran_cleanly() -> None:
    request = Message("user", "mean of x?")
    bad = _attempt(1, "print(mean(x))", "NameError: name 'mean' is not defined\n[error]")
    note = Message("user", "(fix the error)", origin="loci")
    good = _attempt(2, "import statistics\nprint(statistics.mean(x))", "2.5")
    history = [Message("user", "earlier"), request, *bad, note, *good]
    sent = fold_fixed(history, 2, failed={"c1"}, ok={"c2"})
    assert sent == [Message("user", "earlier"), request, *good]
    # not yet fixed: the model still reads the error it has to fix
    assert fold_fixed(history[:5], 2, failed={"c1"}, ok=set()) == history[:5]
    # an earlier request's attempts are left as they are
    assert fold_fixed(history, 5, failed={"c1"}, ok={"c2"}) == history
