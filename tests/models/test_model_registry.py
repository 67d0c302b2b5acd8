"""get_model: from a spec string to a Model."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from loci.config import Settings
from loci.errors import ConfigError, ModelAuthError, ModelNotFoundError
from loci.models import OpenAIModel, ScriptedModel, get_model
from loci.models.registry import openai_context_window


def settings(tmp_path: Path, **kw: Any) -> Settings:
    return Settings(home=tmp_path, workdir=tmp_path, **kw)


def test_openai_spec(tmp_path: Path) -> None:
    model = get_model(settings(tmp_path, model="openai:gpt-4o-mini", api_key="sk-x"))
    assert isinstance(model, OpenAIModel)
    assert model.name == "openai:gpt-4o-mini"
    assert model.model == "gpt-4o-mini"
    assert model.supports_tools  # auto: on for api.openai.com
    assert model.context_window == 128_000
    assert model.base_url == "https://api.openai.com/v1"


def test_bare_name_is_openai(tmp_path: Path) -> None:
    model = get_model(settings(tmp_path, model="gpt-4.1", api_key="sk-x"))
    assert isinstance(model, OpenAIModel)
    assert model.model == "gpt-4.1"
    assert model.context_window == 1_047_576


def test_openai_compatible_server(tmp_path: Path) -> None:
    s = settings(tmp_path, model="openai:qwen2.5-coder:7b", api_base="http://127.0.0.1:9/v1")
    model = get_model(s)
    assert isinstance(model, OpenAIModel)
    assert model.model == "qwen2.5-coder:7b"
    assert not model.supports_tools  # auto: off for other servers
    assert model.context_window == 8192
    assert model.base_url == "http://127.0.0.1:9/v1"


@pytest.mark.parametrize(("tools", "expected"), [("on", True), ("off", False)])
def test_tools_setting(tmp_path: Path, tools: str, expected: bool) -> None:
    s = settings(tmp_path, model="openai:m", api_base="http://127.0.0.1:9/v1", tools=tools)
    assert get_model(s).supports_tools is expected


def test_bad_tools_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="tools"):
        get_model(settings(tmp_path, model="openai:m", api_key="k", tools="maybe"))


def test_context_window_override(tmp_path: Path) -> None:
    s = settings(tmp_path, model="openai:gpt-4o", api_key="k", context_window=4096)
    assert get_model(s).context_window == 4096


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("gpt-4o", 128_000),
        ("gpt-4o-mini", 128_000),
        ("gpt-4.1-mini", 1_047_576),
        ("gpt-5-mini", 272_000),
        ("gpt-4", 8192),
        ("o3-mini", 200_000),
        ("some-new-model", 128_000),
    ],
)
def test_openai_context_windows(name: str, expected: int) -> None:
    assert openai_context_window(name, None) == expected
    assert openai_context_window(name, "http://localhost:8000/v1") == 8192


def test_missing_openai_key(tmp_path: Path) -> None:
    with pytest.raises(ModelAuthError, match="OPENAI_API_KEY"):
        get_model(settings(tmp_path, model="openai:gpt-4o"))


def test_anthropic_spec(tmp_path: Path) -> None:
    pytest.importorskip("anthropic")
    from loci.models.anthropic import AnthropicModel

    model = get_model(settings(tmp_path, model="anthropic:claude-x", anthropic_api_key="k"))
    assert isinstance(model, AnthropicModel)
    assert model.name == "anthropic:claude-x"
    assert model.supports_tools
    assert model.context_window == 200_000


def test_missing_anthropic_key(tmp_path: Path) -> None:
    with pytest.raises(ModelAuthError, match="ANTHROPIC_API_KEY"):
        get_model(settings(tmp_path, model="anthropic:claude-x"))


def test_scripted_spec(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text(json.dumps(["hello"]))
    model = get_model(settings(tmp_path, model=f"scripted:{path}"))
    assert isinstance(model, ScriptedModel)
    assert model.name == f"scripted:{path}"


@pytest.mark.parametrize(
    ("spec", "rest"), [("local", ""), ("local:tiny", "tiny"), ("local:/m/x.gguf", "/m/x.gguf")]
)
def test_local_specs_call_the_loader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spec: str, rest: str
) -> None:
    seen: list[tuple[str, Settings]] = []
    sentinel = ScriptedModel(name="local")
    fake = types.ModuleType("loci.models.local")

    def load_local_model(r: str, s: Settings) -> ScriptedModel:
        seen.append((r, s))
        return sentinel

    fake.load_local_model = load_local_model  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "loci.models.local", fake)
    s = settings(tmp_path, model=spec)
    assert get_model(s) is sentinel
    assert seen == [(rest, s)]


def test_catalog_name_alone_is_the_embedded_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``loci models install qwen2.5-coder-1.5b`` takes the bare name; so does ``-m``."""
    seen: list[str] = []
    fake = types.ModuleType("loci.models.local")
    fake.load_local_model = lambda r, s: seen.append(r) or ScriptedModel(name=r)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "loci.models.local", fake)
    get_model(settings(tmp_path, model="qwen2.5-coder-1.5b"))
    get_model(settings(tmp_path, model="Qwen2.5-Coder-0.5B"))  # the catalog ignores case
    assert seen == ["qwen2.5-coder-1.5b", "Qwen2.5-Coder-0.5B"]


def test_catalog_name_with_api_base_is_the_servers(tmp_path: Path) -> None:
    """A server may serve a model of that name; --api-base means the server's."""
    model = get_model(
        settings(tmp_path, model="qwen2.5-coder-1.5b", api_base="http://127.0.0.1:9/v1")
    )
    assert isinstance(model, OpenAIModel)
    assert model.model == "qwen2.5-coder-1.5b"


@pytest.mark.parametrize("spec", ["mistral:large", "org/model", "", "openai:", "scripted:"])
def test_unknown_specs(tmp_path: Path, spec: str) -> None:
    with pytest.raises(ModelNotFoundError):
        get_model(settings(tmp_path, model=spec))


def test_unknown_spec_lists_valid_forms(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="anthropic:NAME") as info:
        get_model(settings(tmp_path, model="hf:org/model", api_base="http://127.0.0.1:9/v1"))
    assert "openai:hf:org/model" in str(info.value)
