"""Failpoints of the account service: delays the chaos harness switches on at run time.

The account service is real code, not a simulator, so it has no knobs; a failpoint (as in
FoundationDB or TiKV) is the narrow door the harness uses instead. The file, by default
``<state_dir>/failpoints.json``, maps an operation to a delay before it runs (``delay_ms``),
after it committed, before the activity answers (``delay_after_ms``), or inside the database
call itself, where the activity's timeout cannot cancel it (``stall_ms``)::

    {"debit": {"delay_ms": 3000}, "validate": {"delay_after_ms": 2000}}

Operations: ``validate``, ``debit``, ``refund``. A missing file means no failpoint; the file is
re-read only when its modification time changes, so the cost per call is one ``stat``.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Literal

import msgspec

Operation = Literal["validate", "debit", "refund"]
FILE_NAME = "failpoints.json"


class Failpoint(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """What to do before one operation."""

    delay_ms: int = 0
    delay_after_ms: int = 0
    stall_ms: int = 0
    """A delay inside the database call, on the worker's thread: unlike ``delay_ms`` (a sleep
    the worker cancels when the activity times out), it runs on, so the operation can take
    effect after its activity timed out (a stalled disk, a lock held elsewhere)."""


class Failpoints:
    """The failpoints file of one stack, read lazily."""

    def __init__(self, path: str | Path | None) -> None:
        self.path = Path(path) if path else None
        self._mtime: float | None = None
        self._points: dict[str, Failpoint] = {}

    def current(self) -> dict[str, Failpoint]:
        """The failpoints in force now."""
        if self.path is None:
            return {}
        try:
            mtime = os.stat(self.path).st_mtime
        except FileNotFoundError:
            self._mtime, self._points = None, {}
            return {}
        if mtime != self._mtime:
            try:
                self._points = msgspec.json.decode(
                    self.path.read_bytes(), type=dict[str, Failpoint]
                )
            except (OSError, msgspec.DecodeError):
                self._points = {}  # a half-written file: try again on the next call
                return {}
            self._mtime = mtime
        return self._points

    def stall_s(self, operation: Operation) -> float:
        """Seconds the database call of ``operation`` stalls (0 without a failpoint)."""
        point = self.current().get(operation)
        return point.stall_ms / 1000 if point else 0.0

    async def delay(self, operation: Operation, *, after: bool = False) -> None:
        """Sleep as long as the failpoint of ``operation`` says (before it, or ``after`` it)."""
        point = self.current().get(operation)
        delay_ms = (point.delay_after_ms if after else point.delay_ms) if point else 0
        if delay_ms > 0:
            await asyncio.sleep(delay_ms / 1000)


def write_failpoints(path: str | Path, points: dict[str, Failpoint]) -> None:
    """Set the failpoints (atomically); an empty dict removes the file."""
    path = Path(path)
    if not points:
        path.unlink(missing_ok=True)
        return
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(msgspec.json.encode(points))
    tmp.replace(path)
