"""A call to one of an MCP server's tools, in the two forms loci gives it.

The *Python form* is what a person approves, what the store keeps and what the Python kernel
runs: ``weather.forecast(city='Paris', days=3)``. The *function form* is what a model's API
names: the function ``weather__forecast`` with the JSON object ``{"city": "Paris", "days": 3}``.
Both are made of the same two names, a server's and a tool's name as Python names
(``server_name``, ``tool_name``), so either form gives the other.

``parse_call`` reads the Python form back with literal values only (``ast.literal_eval``): a
call a person edited is understood, never evaluated as code.
"""

from __future__ import annotations

import ast
import builtins
import keyword
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

SEPARATOR = "__"  # between the server's and the tool's name in a function name
MAX_FUNCTION_NAME = 64  # what the OpenAI and Anthropic APIs accept
SHADOW_SUFFIX = "_tools"  # for a server whose name would hide a module or a builtin
_NOT_NAME = re.compile(r"[^0-9A-Za-z_]+")
_UNDERSCORES = re.compile(r"_+")


def _plain(name: str) -> str:
    """``name`` with runs of other characters and underscores made one ``_``, trimmed."""
    text = _UNDERSCORES.sub("_", _NOT_NAME.sub("_", name)).strip("_")
    return text if text and not text[0].isdigit() else f"n{text}"


def server_name(name: str) -> str:
    """A server's name as the Python name its tools hang from: ``brave-search`` →
    ``brave_search``; ``time`` → ``time_tools`` (a server must not hide ``import time``)."""
    ident = _plain(name)
    stdlib: frozenset[str] = getattr(sys, "stdlib_module_names", frozenset())
    if keyword.iskeyword(ident) or ident in stdlib or hasattr(builtins, ident) or ident == "mcp":
        ident += SHADOW_SUFFIX
    return ident


def tool_name(name: str) -> str:
    """A tool's name as a Python attribute name: ``get-forecast`` → ``get_forecast``."""
    ident = _plain(name)
    return ident + "_" if keyword.iskeyword(ident) else ident


def function_name(server: str, tool: str) -> str:
    """The function form's name (``weather__forecast``); "" when too long for the APIs."""
    name = f"{server}{SEPARATOR}{tool}"
    return name if len(name) <= MAX_FUNCTION_NAME else ""


def split_function(name: str) -> tuple[str, str] | None:
    """``weather__forecast`` → ``("weather", "forecast")``; None for a name of another kind
    (``execute``). A server's Python name never holds ``__``, so the first one divides."""
    server, sep, tool = name.strip().partition(SEPARATOR)
    if not sep or not server.isidentifier() or not tool.isidentifier():
        return None
    return server, tool


def _keyword_name(key: str) -> bool:
    return key.isidentifier() and not keyword.iskeyword(key)


def format_call(server: str, tool: str, arguments: Mapping[str, Any]) -> str:
    """The Python form: ``server.tool(key=value, …)``; keys that are not Python names go in
    a ``**{…}`` at the end."""
    parts = [f"{k}={v!r}" for k, v in arguments.items() if _keyword_name(k)]
    other = {k: v for k, v in arguments.items() if not _keyword_name(k)}
    if other:
        parts.append(f"**{other!r}")
    return f"{server}.{tool}({', '.join(parts)})"


@dataclass(frozen=True)
class Call:
    """A parsed Python form: positional ``args`` are the person's (a model names each)."""

    server: str
    tool: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)


_FORM = "server.tool(name=value, …) with literal values"


def parse_call(text: str) -> Call:
    """Read a Python form back; ValueError, saying what is wrong, when it is not one."""
    try:
        node = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as exc:
        raise ValueError(f"not Python ({exc.msg}); write {_FORM}") from exc
    func = node.func if isinstance(node, ast.Call) else None
    if not isinstance(func, ast.Attribute) or not isinstance(func.value, ast.Name):
        raise ValueError(f"not a call to a tool; write {_FORM}")
    assert isinstance(node, ast.Call)
    kwargs: dict[str, Any] = {}
    try:
        args = tuple(ast.literal_eval(a) for a in node.args)
        for kw in node.keywords:
            value = ast.literal_eval(kw.value)
            if kw.arg is not None:
                kwargs[kw.arg] = value
            elif isinstance(value, dict) and all(isinstance(k, str) for k in value):
                kwargs.update(value)
            else:
                raise ValueError("** takes a dict with string keys")
    except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError) as exc:
        raise ValueError(f"an argument is not a literal value ({exc}); write {_FORM}") from exc
    return Call(func.value.id, func.attr, args, kwargs)
