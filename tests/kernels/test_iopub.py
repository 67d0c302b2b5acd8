"""iopub messages → events: a pure function, tested on plain dicts."""

from __future__ import annotations

from typing import Any

from loci.events import Output
from loci.kernels.iopub import html_to_text, message_to_events, pick_mime, strip_ansi


def msg(msg_type: str, **content: Any) -> dict[str, Any]:
    return {
        "msg_type": msg_type,
        "header": {"msg_type": msg_type, "msg_id": "m2"},
        "parent_header": {"msg_id": "m1"},
        "content": content,
    }


def test_stream_stdout_and_stderr() -> None:
    assert message_to_events(msg("stream", name="stdout", text="hi\n")) == [
        Output(stream="stdout", data="hi\n")
    ]
    assert message_to_events(msg("stream", name="stderr", text="oops")) == [
        Output(stream="stderr", data="oops")
    ]


def test_msg_type_may_come_from_the_header_only() -> None:
    message = msg("stream", name="stdout", text="x")
    del message["msg_type"]
    assert message_to_events(message) == [Output(stream="stdout", data="x")]


def test_execute_result_plain_text() -> None:
    events = message_to_events(msg("execute_result", data={"text/plain": "42"}, execution_count=1))
    assert events == [Output(stream="result", data="42", mime="text/plain", text="42")]


def test_display_data_png_keeps_base64_and_text_fallback() -> None:
    data = {"image/png": "iVBORw0KGgo=", "text/plain": "<Figure size 640x480 with 1 Axes>"}
    (event,) = message_to_events(msg("display_data", data=data, metadata={}))
    assert event == Output(
        stream="display",
        data="iVBORw0KGgo=",
        mime="image/png",
        text="<Figure size 640x480 with 1 Axes>",
    )


def test_update_display_data_is_a_display() -> None:
    content = {"data": {"text/plain": "50%"}, "transient": {"display_id": "p"}}
    (event,) = message_to_events(msg("update_display_data", **content))
    assert (event.stream, event.data) == ("display", "50%")


def test_mime_preference_order() -> None:
    bundle = {
        "text/plain": "p",
        "text/markdown": "**m**",
        "application/json": {"a": 1},
        "text/html": "<b>h</b>",
        "image/svg+xml": "<svg/>",
        "image/jpeg": "/9j/",
    }
    assert pick_mime(bundle)[0] == "image/jpeg"
    del bundle["image/jpeg"]
    assert pick_mime(bundle)[0] == "image/svg+xml"
    del bundle["image/svg+xml"]
    assert pick_mime(bundle) == ("text/html", "<b>h</b>", "p")
    del bundle["text/html"]
    assert pick_mime(bundle)[:2] == ("application/json", '{\n "a": 1\n}')
    del bundle["application/json"]
    assert pick_mime(bundle) == ("text/markdown", "**m**", "p")


def test_html_without_plain_text_gets_a_rendering() -> None:
    html = "<div><style>.x{}</style><table><tr><th></th><th>a</th></tr>"
    html += "<tr><th>0</th><td>1 &amp; 2</td></tr></table></div>"
    assert pick_mime({"text/html": html}) == ("text/html", html, "\ta\n0\t1 & 2")


def test_html_to_text_of_a_pandas_like_table() -> None:
    html = """<div>
<style scoped>
    .dataframe tbody tr th { vertical-align: top; }
</style>
<table border="1" class="dataframe">
  <thead>
    <tr style="text-align: right;">
      <th></th>
      <th>city</th>
      <th>total</th>
    </tr>
  </thead>
  <tbody>
    <tr>
      <th>0</th>
      <td>Paris</td>
      <td>12.5</td>
    </tr>
    <tr>
      <th>1</th>
      <td>New   York</td>
      <td>3</td>
    </tr>
  </tbody>
</table>
<p>2 rows &times; 2 columns</p>
</div>"""
    assert html_to_text(html) == "\tcity\ttotal\n0\tParis\t12.5\n1\tNew York\t3\n2 rows × 2 columns"


def test_html_to_text_paragraphs_and_breaks() -> None:
    assert html_to_text("<p>one <b>bold</b></p><p>two<br>three</p><script>x()</script>") == (
        "one bold\ntwo\nthree"
    )


def test_list_valued_mime_data_is_joined() -> None:
    (event,) = message_to_events(msg("execute_result", data={"text/plain": ["a\n", "b"]}))
    assert event.data == "a\nb"


def test_unknown_mime_only() -> None:
    (event,) = message_to_events(msg("display_data", data={"application/x-widget": {}}))
    assert event.mime == "text/plain"
    assert "application/x-widget" in event.data


def test_error_strips_ansi_and_summarises() -> None:
    red, green, grey, reset = "\x1b[0;31m", "\x1b[0;32m", "\x1b[38;5;241m", "\x1b[0m"
    traceback = [
        f"{red}{'-' * 75}{reset}",
        f"{red}ZeroDivisionError{reset}                         Traceback (most recent call last)",
        f"{green}----> 1{reset} {grey}1\x1b[39m{grey}/\x1b[39m{grey}0\x1b[39m",
        f"{red}ZeroDivisionError{reset}: division by zero",
    ]
    content = {"ename": "ZeroDivisionError", "evalue": "division by zero", "traceback": traceback}
    (event,) = message_to_events(msg("error", **content))
    assert event.stream == "error"
    assert event.text == "ZeroDivisionError: division by zero"
    assert "\x1b" not in event.data
    assert event.data.splitlines()[2] == "----> 1 1/0"
    assert event.data.endswith("ZeroDivisionError: division by zero")


def test_error_without_traceback() -> None:
    (event,) = message_to_events(msg("error", ename="KeyboardInterrupt", evalue="", traceback=[]))
    assert (event.data, event.text) == ("KeyboardInterrupt", "KeyboardInterrupt")


def test_ignored_messages() -> None:
    for message in (
        msg("clear_output", wait=False),
        msg("status", execution_state="busy"),
        msg("status", execution_state="idle"),
        msg("execute_input", code="1", execution_count=1),
        msg("comm_open", comm_id="c", target_name="t", data={}),
    ):
        assert message_to_events(message) == []


def test_strip_ansi_handles_osc_hyperlinks() -> None:
    assert strip_ansi("\x1b]8;;file:///x.py\x1b\\x.py\x1b]8;;\x1b\\:3") == "x.py:3"
