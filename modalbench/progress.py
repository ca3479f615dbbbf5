"""Progress bars: a rich bar driven by dask's scheduler callbacks."""

from __future__ import annotations

from typing import Any

from dask.callbacks import Callback
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

console = Console(stderr=True)


def make_progress(enabled: bool = True) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=not enabled,
        transient=False,
    )


class DaskProgress(Callback):
    """Advance a rich progress bar as dask tasks finish (local schedulers)."""

    def __init__(self, description: str, enabled: bool = True) -> None:
        super().__init__()
        self.description = description
        self.enabled = enabled
        self._progress: Progress | None = None
        self._task: Any = None

    def _start_state(self, dsk: Any, state: dict[str, Any]) -> None:
        if not self.enabled:
            return
        total = sum(len(state[k]) for k in ("ready", "waiting", "running", "finished"))
        self._progress = make_progress()
        self._progress.start()
        self._task = self._progress.add_task(self.description, total=total)

    def _posttask(self, key: Any, result: Any, dsk: Any, state: dict[str, Any], worker_id: Any) -> None:
        if self._progress is not None:
            self._progress.advance(self._task)

    def _finish(self, dsk: Any, state: Any, errored: bool) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
