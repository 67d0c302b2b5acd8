"""The terminal's install progress bar: a ``loci.models.install.ProgressCallback`` that draws
a rich bar on stderr. The model layer only reports progress; the CLI decides how it looks.
"""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)

from ..models.install import InstallProgress

BAR_WIDTH = 20  # characters: the row fits 80 columns without a transfer speed


class InstallBar:
    """A progress callback drawing one rich bar per model, shown from the first report (so
    nothing is drawn when nothing is installed) until the ``with`` block ends."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self._bar: Progress | None = None
        self._tasks: dict[str, TaskID] = {}

    def __call__(self, p: InstallProgress) -> None:
        if self._bar is None:
            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(bar_width=BAR_WIDTH),
                DownloadColumn(),
                TimeRemainingColumn(),
                console=self.console,
            )
            self._bar.start()
        desc = f"{p.model} part {p.part}/{p.parts}"
        if p.model not in self._tasks:
            self._tasks[p.model] = self._bar.add_task(desc, total=p.total)
        self._bar.update(self._tasks[p.model], completed=p.done, description=desc)

    def close(self) -> None:
        """Stop drawing (the finished bar stays on screen)."""
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def __enter__(self) -> InstallBar:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
