"""The local mirror of a remote kernel's folder: uploads go out, results come back, files too
big to fetch are named instead of silently missing."""

from __future__ import annotations

from pathlib import Path

from loci.errors import KernelError
from loci.mirror import Mirror, mirror_for


class Remote:
    """A remote folder held in memory, with the GatewayKernel file methods."""

    remote_cwd: str | None = "/srv/loci-workspaces/abc"

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.times: dict[str, float] = {}
        self.clock = 0.0

    def write(self, rel: str, data: bytes) -> None:
        self.clock += 1
        self.files[rel], self.times[rel] = data, self.clock

    def list_files(self) -> dict[str, tuple[float, int]]:
        return {rel: (self.times[rel], len(data)) for rel, data in self.files.items()}

    def fetch(self, relpath: str, max_bytes: int) -> bytes | None:
        data = self.files.get(relpath)
        return None if data is None or len(data) > max_bytes else data

    def push(self, relpath: str, data: bytes) -> None:
        if relpath.startswith("locked"):
            raise KernelError("cannot write there")
        self.write(relpath, data)


def test_local_kernels_have_no_mirror(tmp_path: Path) -> None:
    assert mirror_for(object(), tmp_path) is None
    remote = Remote()
    assert mirror_for(remote, tmp_path) is mirror_for(remote, tmp_path)


def test_uploads_go_out_once_and_results_come_back(tmp_path: Path) -> None:
    (tmp_path / "data.csv").write_text("a\n1\n")
    (tmp_path / "locked.txt").write_text("x")
    remote = Remote()
    mirror = Mirror(remote, tmp_path)
    # a failing push stops the round (the gateway is not answering), and is not fatal
    assert mirror.push_local() == ["data.csv"]
    assert remote.files["data.csv"] == b"a\n1\n"
    assert mirror.push_local() == []  # nothing new
    before = mirror.remote_files()
    remote.write("out/report.txt", b"done")
    remote.write("big.bin", b"0" * 2000)
    remote.write("loci_outputs/plot.png", b"png")  # loci saved that one itself
    fetched, kept = mirror.pull_changed(before, max_fetch=1000)
    assert fetched == [str((tmp_path / "out/report.txt").resolve())]
    assert (tmp_path / "out/report.txt").read_bytes() == b"done"
    assert kept == ["big.bin (2.0 KB)"] and not (tmp_path / "big.bin").exists()
    # a fetched file is not sent back as if it were a new upload
    assert mirror.push_local() == []
    (tmp_path / "new.txt").write_text("later upload")
    assert mirror.push_local() == ["new.txt"]


def test_paths_that_leave_the_workspace_are_not_written(tmp_path: Path) -> None:
    remote = Remote()
    mirror = Mirror(remote, tmp_path / "ws")
    remote.write("../escape.txt", b"x")
    fetched, kept = mirror.pull_changed({})
    assert fetched == [] and kept == []
    assert not (tmp_path / "escape.txt").exists()


def test_files_a_failed_first_push_missed_are_sent_next_time(tmp_path: Path) -> None:
    (tmp_path / "data.csv").write_text("a\n1\n")
    (tmp_path / "notes.txt").write_text("n")
    remote = Remote()
    down = KernelError("the gateway is not answering")

    def refuse(relpath: str, data: bytes) -> None:
        raise down

    remote.push = refuse  # type: ignore[method-assign]
    mirror = Mirror(remote, tmp_path)
    assert mirror.push_local() == []  # the gateway was down for the first block
    del remote.push  # back up
    assert sorted(mirror.push_local()) == ["data.csv", "notes.txt"]
    assert mirror.push_local() == []
