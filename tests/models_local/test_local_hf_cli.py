"""The Hugging Face source against a real local HTTP server, and ``loci models`` via click."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner
from models_local_helpers import fake_entry

from loci.cli.models_cmd import models
from loci.errors import ModelInstallError, ModelNotFoundError
from loci.models.catalog import CATALOG
from loci.models.install import InstallProgress, install_model, installed_path

PAYLOAD = b"GGUF" + bytes(range(256)) * 5000  # ~1.3 MB: more than one read chunk
PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


class _Hub(BaseHTTPRequestHandler):
    """Serves PAYLOAD where the hub would, redirecting first as the real hub does."""

    requests: list[str] = []  # noqa: RUF012 (shared by the test on purpose)

    def do_GET(self) -> None:
        self.requests.append(self.path)
        if self.path == "/org/fake-GGUF/resolve/main/fake-model.gguf":
            self.send_response(302)
            self.send_header("Location", "/cdn/blob")
            self.end_headers()
        elif self.path == "/cdn/blob":
            self.send_response(200)
            self.send_header("Content-Length", str(len(PAYLOAD)))
            self.end_headers()
            self.wfile.write(PAYLOAD)
        else:
            self.send_error(404)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hub)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_hf_download_is_verified_and_installed(tmp_path: Path, hub: str) -> None:
    entry = fake_entry(PAYLOAD)
    seen: list[InstallProgress] = []
    path = install_model(entry, tmp_path, source="hf", hf_endpoint=hub, progress=seen.append)
    assert path.read_bytes() == PAYLOAD
    assert installed_path(entry, tmp_path) == path
    assert seen[-1].done == len(PAYLOAD) and (seen[-1].part, seen[-1].parts) == (1, 1)


def test_hf_hash_mismatch_deletes_download(tmp_path: Path, hub: str) -> None:
    entry = fake_entry(PAYLOAD, sha256="cd" * 32)
    with pytest.raises(ModelInstallError, match="expected cdcd"):
        install_model(entry, tmp_path, source="hf", hf_endpoint=hub)
    assert list(tmp_path.iterdir()) == []


def test_hf_http_error(tmp_path: Path, hub: str) -> None:
    entry = fake_entry(PAYLOAD)
    missing = fake_entry(PAYLOAD).__class__(**{**entry.__dict__, "hf_file": "nope.gguf"})
    with pytest.raises(ModelInstallError, match="HTTP 404"):
        install_model(missing, tmp_path, source="hf", hf_endpoint=hub)
    assert list(tmp_path.iterdir()) == []


def test_hf_unreachable(tmp_path: Path, hub: str) -> None:
    with pytest.raises(ModelInstallError, match="cannot download fake-model"):
        install_model(fake_entry(PAYLOAD), tmp_path, source="hf", hf_endpoint="http://127.0.0.1:9")


def test_cli_list_marks_default_and_installed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    models_dir = tmp_path / "models"
    monkeypatch.setenv("LOCI_MODELS_DIR", str(models_dir))
    entry = fake_entry(PAYLOAD)
    monkeypatch.setitem(CATALOG, entry.name, entry)
    models_dir.mkdir()
    (models_dir / entry.filename).write_bytes(PAYLOAD)
    result = CliRunner().invoke(models, ["list"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any(line.startswith("* qwen2.5-coder-0.5b") and "491 MB" in line for line in lines)
    assert any("smollm2-135m" in line and " - " in line for line in lines)
    assert any("fake-model" in line and "installed" in line for line in lines)
    assert str(models_dir) in result.output


def test_cli_install_from_hf(tmp_path: Path, hub: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCI_MODELS_DIR", str(tmp_path))
    entry = fake_entry(PAYLOAD)
    monkeypatch.setitem(CATALOG, entry.name, entry)
    result = CliRunner().invoke(
        models, ["install", "fake-model", "--source", "hf", "--hf-endpoint", hub]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().splitlines()[-1] == str(tmp_path / entry.filename)


def test_cli_install_unknown_model() -> None:
    result = CliRunner().invoke(models, ["install", "gpt-7"])
    assert isinstance(result.exception, ModelNotFoundError)
    assert "qwen2.5-coder-0.5b" in str(result.exception)
