"""Progress of a long command: ``[n/N]``, the time spent and the time left.

On a terminal it is a live line drawn by ``rich`` (the lines a command prints scroll above it);
anywhere else (CI logs, a pipe) it is one plain line per step, so a log reads top to bottom.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


def time_left(done: int, total: int, began: float) -> str:
    """``12s elapsed, about 30s to go`` after ``done`` of ``total`` steps begun at ``began``
    (``time.monotonic()``); the estimate is the mean step so far times the steps left."""
    elapsed = time.monotonic() - began
    eta = elapsed / done * (total - done) if done else 0.0
    return f"{elapsed:.0f}s elapsed, about {eta:.0f}s to go"


def on_terminal() -> bool:
    """Whether stdout is a terminal a live line can be drawn on (never in CI)."""
    return Console().is_terminal and not os.environ.get("CI")


class Steps:
    """``total`` steps of a long command. Use as a context manager; call :meth:`begin` as each
    step starts and :meth:`advance` as it ends.

    ``out`` receives the plain lines (``[3/10] name (12s elapsed, about 30s to go)``) when no
    live line is drawn: off a terminal, or when ``live`` is False; one per ``every`` steps.
    """

    def __init__(
        self,
        what: str,
        total: int,
        out: Callable[[str], None] = print,
        live: bool | None = None,
        every: int = 1,
        console: Console | None = None,
    ) -> None:
        self.what, self.total, self.out, self.every = what, total, out, every
        self.live = on_terminal() if live is None else live
        self.done = 0
        self.began = time.monotonic()
        self.console = console
        self._bar: Progress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> Steps:
        self.began = time.monotonic()
        if self.live:
            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("eta"),
                TimeRemainingColumn(),
                transient=True,
                console=self.console,
            )
            self._bar.start()
            self._task = self._bar.add_task(self.what, total=self.total)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            self._bar.stop()

    def begin(self, label: str) -> None:
        """Step ``done + 1`` starts: name it on the live line, or print it with the time left."""
        position = f"[{self.done + 1}/{self.total}]"
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, description=f"{self.what} {position} {label}")
            return
        if self.done % self.every:
            return
        timing = f" ({time_left(self.done, self.total, self.began)})" if self.done else ""
        self.out(f"{position} {label}{timing}")

    def advance(self, steps: int = 1) -> None:
        """``steps`` more are finished."""
        self.done += steps
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, completed=self.done)

    def elapsed_s(self) -> float:
        """Seconds since the first step began."""
        return time.monotonic() - self.began
