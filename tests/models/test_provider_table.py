"""A provider added to the table alone shows up everywhere specs are parsed or shown."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from loci.config import Settings
from loci.errors import ModelNotFoundError
from loci.models import ScriptedModel, get_model
from loci.models.base import Model
from loci.models.install import ProgressCallback
from loci.models.registry import PROVIDERS, Provider, parse_spec, register_provider

TOKEN = "test-token-0123456789"


def toy_model(name: str, spec: str, settings: Settings, progress: ProgressCallback | None) -> Model:
    return ScriptedModel([f"toy {name}"], name=spec)


@pytest.fixture
def toy() -> Iterator[Provider]:
    provider = Provider(
        "toy",
        toy_model,
        ("toy:NAME",),
        "a toy provider for the tests",
        native_tools=True,
        suggestions=lambda: ["toy:small"],
    )
    register_provider(provider)
    try:
        yield provider
    finally:
        PROVIDERS.pop("toy")


def settings(tmp_path: Path, model: str) -> Settings:
    return Settings(home=tmp_path, workdir=tmp_path, model=model)


def test_spec_builds_the_toy(toy: Provider, tmp_path: Path) -> None:
    model = get_model(settings(tmp_path, "toy:small"))
    assert isinstance(model, ScriptedModel)
    assert model.name == "toy:small"
    assert parse_spec(" toy:small ") == (toy, "small")


def test_the_toy_needs_a_name(toy: Provider, tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match=r"needs a name after the colon, e\.g\. toy:NAME"):
        get_model(settings(tmp_path, "toy:"))


def test_unknown_spec_lists_the_toy(toy: Provider, tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="toy:NAME") as info:
        get_model(settings(tmp_path, "mistral:large"))
    assert "anthropic:NAME" in str(info.value)


def test_bare_names_and_local_alone_still_parse() -> None:
    assert parse_spec("gpt-4o")[0].prefix == "openai"
    assert parse_spec("local") == (PROVIDERS["local"], "")


def test_help_lists_the_toy(toy: Provider) -> None:
    from loci.cli.main import chat
    from loci.cli.serve_cmd import serve

    for command in (chat, serve):
        result = CliRunner().invoke(command, ["--help"], terminal_width=200)
        assert result.exit_code == 0, result.output
        assert "| scripted:FILE | toy:NAME" in result.output


def test_web_model_list_has_the_toy(toy: Provider, tmp_path: Path) -> None:
    pytest.importorskip("starlette")
    from starlette.testclient import TestClient

    from loci.web import create_app

    app = create_app(settings(tmp_path, "local"), token=TOKEN)
    with TestClient(app) as client:
        resp = client.get("/api/models", headers={"Authorization": f"Bearer {TOKEN}"})
    assert resp.status_code == 200
    body = resp.json()
    assert body["default"] == "local"
    assert body["choices"][0] == "local" and "toy:small" in body["choices"]
    [entry] = [p for p in body["providers"] if p["prefix"] == "toy"]
    assert entry["forms"] == ["toy:NAME"] and entry["native_tools"] is True


@pytest.mark.parametrize("prefix", ["", "a:b", "org/x"])
def test_register_refuses_bad_prefixes(prefix: str) -> None:
    with pytest.raises(ValueError, match="prefix"):
        register_provider(Provider(prefix, toy_model, ("x",), "x"))
