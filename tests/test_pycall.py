"""A call to an MCP tool in its two forms, and how the model adapters carry it."""

from __future__ import annotations

import pytest

from loci.errors import ModelResponseError
from loci.messages import Message, ToolCall
from loci.models.anthropic import to_anthropic_messages
from loci.models.convert import flatten_tool_messages, parse_tool_arguments
from loci.models.openai_compat import to_openai_messages
from loci.pycall import (
    Call,
    format_call,
    function_name,
    parse_call,
    server_name,
    split_function,
    tool_name,
)


def test_names_become_python_names_that_hide_nothing() -> None:
    assert server_name("brave-search") == "brave_search"
    assert server_name("My  Server!") == "My_Server"
    assert server_name("1password") == "n1password"
    assert server_name("time") == "time_tools"  # `import time` still works in the kernel
    assert server_name("print") == "print_tools" and server_name("class") == "class_tools"
    assert tool_name("get-forecast") == "get_forecast" and tool_name("import") == "import_"
    assert "__" not in server_name("a__b") and server_name("a__b") == "a_b"


def test_the_function_form_names_server_and_tool() -> None:
    assert function_name("weather", "forecast") == "weather__forecast"
    assert split_function("weather__forecast") == ("weather", "forecast")
    assert split_function("weather__get__x") == ("weather", "get__x")
    assert split_function("execute") is None and split_function("__x") is None
    assert function_name("s" * 40, "t" * 40) == ""  # too long for the APIs: Python only


@pytest.mark.parametrize(
    "arguments",
    [
        {},
        {"city": "Paris", "days": 3},
        {"flag": True, "none": None, "ratio": 0.5, "tags": ["a", "b"], "nested": {"k": [1]}},
        {"start-date": "2024-01-01", "from": 1, "n": 2},  # not Python names: in **{…}
        {"text": 'it\'s "quoted"\nand ünïcode'},
    ],
)
def test_the_python_form_reads_back_as_it_was_written(arguments: dict[str, object]) -> None:
    code = format_call("weather", "forecast", arguments)
    assert parse_call(code) == Call("weather", "forecast", (), arguments)


def test_the_python_form_is_plain_to_read() -> None:
    assert format_call("w", "f", {"city": "Paris", "days": 3}) == "w.f(city='Paris', days=3)"
    assert format_call("w", "f", {"from": 1}) == "w.f(**{'from': 1})"


def test_an_edited_call_keeps_literals_only() -> None:
    assert parse_call("toy.add(1, b=2)") == Call("toy", "add", (1,), {"b": 2})
    for bad in ("toy.add(a=__import__('os').getcwd())", "toy.add(*x)", "add(1)", "toy.add(", "1"):
        with pytest.raises(ValueError):
            parse_call(bad)


def test_a_call_to_an_mcp_tool_travels_in_the_apis_function_form() -> None:
    mcp_call = ToolCall("c1", "mcp", "weather.forecast(city='Paris', days=3)")
    assert mcp_call.tool_name() == "weather__forecast"
    assert mcp_call.arguments_json() == '{"city": "Paris", "days": 3}'
    history = [Message("user", "hi"), Message("assistant", "", (mcp_call,))]
    sent = to_openai_messages(history, tools=True)[1]["tool_calls"][0]["function"]
    assert sent == {"name": "weather__forecast", "arguments": '{"city": "Paris", "days": 3}'}
    block = to_anthropic_messages(history)[1][1]["content"][0]
    assert (block["name"], block["input"]) == ("weather__forecast", {"city": "Paris", "days": 3})
    # without tool calls, it is the Python that makes the call (the kernel runs that too)
    assert flatten_tool_messages(history)[1].content == (
        "```python\nweather.forecast(city='Paris', days=3)\n```"
    )
    code = ToolCall("c2", "python", "print(1)")
    assert code.tool_name() == "execute" and code.arguments() == {
        "language": "python",
        "code": "print(1)",
    }


def test_a_models_call_to_a_tool_becomes_its_python_form() -> None:
    parsed = parse_tool_arguments("c1", "weather__forecast", '{"city": "Paris"}')
    assert parsed == ToolCall("c1", "mcp", "weather.forecast(city='Paris')")
    assert parse_tool_arguments("c2", "toy__crash", "") == ToolCall("c2", "mcp", "toy.crash()")
    with pytest.raises(ModelResponseError, match="not a JSON object"):
        parse_tool_arguments("c3", "toy__add", "[1, 2]")
    with pytest.raises(ModelResponseError, match="not valid JSON"):
        parse_tool_arguments("c4", "toy__add", "{a: 1")
    # execute keeps its ways: bare code is Python
    assert parse_tool_arguments("c5", "execute", "print(1)") == ToolCall("c5", "python", "print(1)")
