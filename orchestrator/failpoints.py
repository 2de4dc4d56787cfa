"""Failpoints of the account service: delays the chaos harness switches on at run time.

The account service is real code, not a simulator, so it has no knobs; a failpoint (as in
FoundationDB or TiKV) is the narrow door the harness uses instead. The file, by default
``<state_dir>/failpoints.json``, maps an operation to a delay before it runs::

    {"debit": {"delay_ms": 3000}}

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

    delay_ms: int = msgspec.field(default=0)


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

    async def delay(self, operation: Operation) -> None:
        """Sleep as long as the failpoint of ``operation`` says."""
        point = self.current().get(operation)
        if point and point.delay_ms > 0:
            await asyncio.sleep(point.delay_ms / 1000)


def write_failpoints(path: str | Path, points: dict[str, Failpoint]) -> None:
    """Set the failpoints (atomically); an empty dict removes the file."""
    path = Path(path)
    if not points:
        path.unlink(missing_ok=True)
        return
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(msgspec.json.encode(points))
    tmp.replace(path)
