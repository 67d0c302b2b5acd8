"""Workspace files are opened without following symlinks, even when they are swapped mid-way.

Code in a kernel can write into the workspace, so it can replace a file or a folder with a
symlink between a check and an open (TOCTOU). These tests plant symlinks, and race them in
with hooks, and show that downloads never read and uploads never write outside.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import anyio
import pytest
from starlette.responses import Response

from loci.errors import NotFoundError
from loci.web import files
from loci.web.files import (
    DOWNLOAD_CSP,
    PathRefused,
    download_response,
    list_files,
    open_download,
    save_upload,
)

SECRET = b"TOPSECRET-CONTENT"


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    path = tmp_path / "ws"
    path.mkdir()
    return path


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    path = tmp_path / "outside"
    path.mkdir()
    (path / "secret.txt").write_bytes(SECRET)
    return path


async def _agen(pieces: Iterable[bytes]) -> AsyncIterator[bytes]:
    for piece in pieces:
        yield piece


def upload(ws: Path, rel: str, pieces: Iterable[bytes] = (b"new",)) -> dict[str, Any]:
    async def go() -> dict[str, Any]:
        return await save_upload(ws, rel, _agen(pieces))

    return anyio.run(go)


def body(resp: Response) -> bytes:
    async def go() -> bytes:
        it: AsyncIterator[bytes] = resp.body_iterator  # type: ignore[attr-defined]
        return b"".join([bytes(chunk) async for chunk in it])

    return anyio.run(go)


def read(ws: Path, rel: str) -> bytes:
    f, _, _ = open_download(ws, rel)
    with f:
        return f.read()


def outside_untouched(outside: Path) -> bool:
    return sorted(p.name for p in outside.iterdir()) == ["secret.txt"] and (
        (outside / "secret.txt").read_bytes() == SECRET
    )


# -- planted symlinks ---------------------------------------------------------------------


def test_symlink_as_the_file_is_refused(ws: Path, outside: Path) -> None:
    (ws / "link.txt").symlink_to(outside / "secret.txt")
    with pytest.raises(PathRefused):
        open_download(ws, "link.txt")
    with pytest.raises(PathRefused):
        download_response(ws, "link.txt", inline=False)
    with pytest.raises(PathRefused):
        upload(ws, "link.txt")
    assert (ws / "link.txt").is_symlink() and outside_untouched(outside)
    assert [p.name for p in ws.iterdir()] == ["link.txt"]  # no temporary file left


def test_symlink_as_a_parent_folder_is_refused(ws: Path, outside: Path) -> None:
    (ws / "sub").symlink_to(outside)
    (ws / "a").mkdir()
    (ws / "a" / "deep").symlink_to(outside)
    for rel in ["sub/secret.txt", "a/deep/secret.txt"]:
        with pytest.raises(PathRefused):
            open_download(ws, rel)
    for rel in ["sub/x.txt", "a/deep/x.txt", "sub/new/x.txt"]:
        with pytest.raises(PathRefused):
            upload(ws, rel)
    assert outside_untouched(outside)


def test_workspace_symlink_to_a_sibling_is_refused_too(ws: Path, tmp_path: Path) -> None:
    # even a symlink that stays inside is not followed: nothing to check, nothing to race
    (ws / "real").mkdir()
    (ws / "real" / "f.txt").write_bytes(b"x")
    (ws / "alias").symlink_to(ws / "real")
    with pytest.raises(PathRefused):
        open_download(ws, "alias/f.txt")


@pytest.mark.parametrize(
    "rel",
    ["../outside/secret.txt", "a/../../outside/secret.txt", "..", "", ".", "a\x00b", "a\\..\\b"],
)
def test_dot_dot_empty_and_odd_names_are_refused(ws: Path, outside: Path, rel: str) -> None:
    with pytest.raises(PathRefused):
        open_download(ws, rel)
    with pytest.raises(PathRefused):
        upload(ws, rel)
    assert outside_untouched(outside)


def test_absolute_paths_are_refused(ws: Path, outside: Path) -> None:
    for rel in [str(outside / "secret.txt"), "/etc/passwd"]:
        with pytest.raises(PathRefused):
            open_download(ws, rel)
    with pytest.raises(PathRefused):
        upload(ws, str(outside / "x.txt"))
    assert outside_untouched(outside)


def test_missing_files_and_folders_are_not_found(ws: Path) -> None:
    (ws / "dir").mkdir()
    for rel in ["nope.txt", "no/such/file.txt", "dir"]:
        with pytest.raises(NotFoundError):
            open_download(ws, rel)


def test_a_fifo_is_refused_without_hanging(ws: Path) -> None:
    os.mkfifo(ws / "pipe")
    with pytest.raises(PathRefused):
        open_download(ws, "pipe")


def test_a_file_as_a_parent_folder_is_refused(ws: Path) -> None:
    (ws / "plain").write_bytes(b"x")
    with pytest.raises(PathRefused):
        upload(ws, "plain/x.txt")
    with pytest.raises(PathRefused):
        open_download(ws, "plain/x.txt")


def test_uploading_onto_a_folder_is_refused(ws: Path) -> None:
    (ws / "dir").mkdir()
    with pytest.raises(PathRefused):
        upload(ws, "dir")
    assert list(ws.iterdir()) == [ws / "dir"] and not list((ws / "dir").iterdir())


# -- normal use ---------------------------------------------------------------------------


def test_nested_download_has_the_exact_bytes_and_headers(ws: Path) -> None:
    data = os.urandom(300_000)
    (ws / "a" / "b").mkdir(parents=True)
    (ws / "a" / "b" / "data.bin").write_bytes(data)
    assert read(ws, "a/./b/data.bin") == data
    resp = download_response(ws, "a/b/data.bin", inline=True)
    assert body(resp) == data
    assert resp.headers["content-length"] == str(len(data))
    assert resp.headers["content-type"] == "application/octet-stream"
    assert resp.headers["content-disposition"] == 'attachment; filename="data.bin"'
    assert resp.headers["content-security-policy"] == DOWNLOAD_CSP


def test_images_inline_only_when_asked(ws: Path) -> None:
    (ws / "plot.PNG").write_bytes(b"\x89PNG...")
    shown = download_response(ws, "plot.PNG", inline=True)
    assert shown.headers["content-type"] == "image/png"
    assert shown.headers["content-disposition"] == 'inline; filename="plot.PNG"'
    assert body(shown) == b"\x89PNG..."
    saved = download_response(ws, "plot.PNG", inline=False)
    assert saved.headers["content-disposition"].startswith("attachment")
    assert saved.headers["content-type"] == "application/octet-stream"
    (ws / "page.html").write_text("<script>alert(1)</script>")
    page = download_response(ws, "page.html", inline=True)
    assert page.headers["content-type"] == "application/octet-stream"
    assert page.headers["content-disposition"].startswith("attachment")
    (ws / "résumé.txt").write_text("x")
    odd = download_response(ws, "résumé.txt", inline=False)
    assert odd.headers["content-disposition"] == "attachment; filename*=utf-8''r%C3%A9sum%C3%A9.txt"


def test_upload_into_new_nested_folders(ws: Path) -> None:
    pieces = [b"a" * 70_000, b"", b"b" * 5]
    entry = upload(ws, "new/deeper/./f.bin", pieces)
    assert entry["path"] == "new/deeper/f.bin" and entry["size"] == 70_005
    assert entry["modified"] == (ws / "new/deeper/f.bin").stat().st_mtime
    assert (ws / "new" / "deeper" / "f.bin").read_bytes() == b"".join(pieces)
    assert upload(ws, "new/deeper/f.bin", [b"again"])["size"] == 5  # replaces in place
    assert read(ws, "new/deeper/f.bin") == b"again"
    assert sorted(p.name for p in (ws / "new" / "deeper").iterdir()) == ["f.bin"]


def test_a_failed_upload_leaves_nothing(ws: Path) -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield b"part"
        raise ConnectionError("client went away")

    async def go() -> None:
        await save_upload(ws, "sub/f.bin", broken())

    with pytest.raises(ConnectionError):
        anyio.run(go)
    assert list((ws / "sub").iterdir()) == []


def test_listing_skips_symlinks(ws: Path, outside: Path) -> None:
    (ws / "real.txt").write_bytes(b"x")
    (ws / "filelink").symlink_to(outside / "secret.txt")
    (ws / "dirlink").symlink_to(outside)
    (ws / "sub").mkdir()
    (ws / "sub" / "in.txt").write_bytes(b"yy")
    assert {f["path"] for f in list_files(ws)} == {"real.txt", "sub/in.txt"}


# -- races: the swap happens after the checks, with the folders already open ----------------


def _swap_for_symlink(folder: Path, target: Path) -> Path:
    """Move ``folder`` aside and put a symlink to ``target`` in its place; the moved path."""
    moved = folder.with_name(folder.name + "-moved")
    folder.rename(moved)
    folder.symlink_to(target)
    return moved


def test_parent_swapped_before_the_temp_file_lands_in_the_original(
    ws: Path, outside: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (ws / "sub").mkdir()
    real_new_temp = files._new_temp
    moved: list[Path] = []

    def racing_new_temp(dfd: int) -> tuple[int, str]:
        moved.append(_swap_for_symlink(ws / "sub", outside))
        return real_new_temp(dfd)

    monkeypatch.setattr(files, "_new_temp", racing_new_temp)
    entry = upload(ws, "sub/x.txt", [b"payload"])
    assert moved and (moved[0] / "x.txt").read_bytes() == b"payload"
    assert entry["path"] == "sub/x.txt" and outside_untouched(outside)


def test_parent_swapped_mid_stream_still_lands_in_the_original(ws: Path, outside: Path) -> None:
    moved: list[Path] = []

    async def racing() -> AsyncIterator[bytes]:
        yield b"first,"
        moved.append(_swap_for_symlink(ws / "a" / "b", outside))  # created by this upload
        yield b"second"

    async def go() -> dict[str, Any]:
        return await save_upload(ws, "a/b/x.txt", racing())

    anyio.run(go)
    assert (moved[0] / "x.txt").read_bytes() == b"first,second"
    assert outside_untouched(outside)


def test_grandparent_swapped_during_the_walk_is_refused_or_stays_inside(
    ws: Path, outside: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (ws / "a" / "b").mkdir(parents=True)
    real_open = os.open
    swapped: list[Path] = []

    def racing_open(path: Any, flags: int, *args: Any, **kw: Any) -> int:
        fd = real_open(path, flags, *args, **kw)
        if path == "a" and not swapped:  # "a" is open; now swap it before "b" is reached
            swapped.append(_swap_for_symlink(ws / "a", outside))
        return fd

    monkeypatch.setattr(os, "open", racing_open)
    upload(ws, "a/b/x.txt", [b"payload"])
    assert (swapped[0] / "b" / "x.txt").read_bytes() == b"payload"
    assert outside_untouched(outside)


def test_file_swapped_for_a_symlink_after_the_walk_is_refused(
    ws: Path, outside: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (ws / "sub").mkdir()
    (ws / "sub" / "f.txt").write_bytes(b"harmless")
    real_open_parent = files.open_parent

    def racing_open_parent(workspace: Path, raw: str, *, create: bool) -> tuple[int, str]:
        opened = real_open_parent(workspace, raw, create=create)
        (ws / "sub" / "f.txt").unlink()
        (ws / "sub" / "f.txt").symlink_to(outside / "secret.txt")
        return opened

    monkeypatch.setattr(files, "open_parent", racing_open_parent)
    with pytest.raises(PathRefused):
        download_response(ws, "sub/f.txt", inline=False)


def test_parent_swapped_after_the_walk_serves_the_original(
    ws: Path, outside: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (ws / "sub").mkdir()
    (ws / "sub" / "secret.txt").write_bytes(b"harmless")  # same name as the file outside
    real_open_parent = files.open_parent

    def racing_open_parent(workspace: Path, raw: str, *, create: bool) -> tuple[int, str]:
        opened = real_open_parent(workspace, raw, create=create)
        _swap_for_symlink(ws / "sub", outside)
        return opened

    monkeypatch.setattr(files, "open_parent", racing_open_parent)
    assert body(download_response(ws, "sub/secret.txt", inline=False)) == b"harmless"


def test_file_swapped_after_the_open_still_serves_the_checked_bytes(
    ws: Path, outside: Path
) -> None:
    (ws / "f.txt").write_bytes(b"harmless")
    resp = download_response(ws, "f.txt", inline=False)
    (ws / "f.txt").unlink()
    (ws / "f.txt").symlink_to(outside / "secret.txt")
    assert body(resp) == b"harmless"
    assert resp.headers["content-length"] == "8"


def test_a_file_grown_after_the_open_serves_only_what_was_promised(ws: Path) -> None:
    (ws / "f.txt").write_bytes(b"12345")
    resp = download_response(ws, "f.txt", inline=False)
    with open(ws / "f.txt", "ab") as f:
        f.write(SECRET)
    assert body(resp) == b"12345" and resp.headers["content-length"] == "5"
