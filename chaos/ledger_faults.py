"""Ledger faults: the accounts database unavailable (a lock the harness holds) or slow.

``unavailable``: the harness holds the ledger's writer lock (an exclusive transaction on the
SQLite file; on PostgreSQL the advisory lock every ledger transaction takes), so every ledger
operation waits the ledger's lock wait and fails, and Temporal retries it; when the window ends
the lock is released and work resumes. ``slow``: the
account service's failpoints (:mod:`orchestrator.failpoints`) delay the chosen operations.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg

from orchestrator.failpoints import Failpoint, Operation, write_failpoints
from orchestrator.ledger import WRITER_LOCK, is_postgres


class LedgerLock:
    """An exclusive lock on the ledger database, held from :meth:`acquire` to :meth:`release`."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._db: sqlite3.Connection | psycopg.Connection[Any] | None = None

    def acquire(self) -> None:
        """Take the lock (waits for a running transaction to finish, at most 10 s)."""
        if is_postgres(self.path):
            pg = psycopg.connect(self.path, autocommit=True, connect_timeout=10)
            pg.execute("SET lock_timeout = '10s'")
            pg.execute("SELECT pg_advisory_lock(%s)", (WRITER_LOCK,))
            self._db = pg
            return
        # Applied and reverted from different worker threads of the fault timeline.
        db = sqlite3.connect(self.path, timeout=10, isolation_level=None, check_same_thread=False)
        db.execute("BEGIN EXCLUSIVE")
        self._db = db

    def release(self) -> None:
        """Let the ledger work again (closing the session releases a PostgreSQL lock even if
        the server restarted meanwhile)."""
        db, self._db = self._db, None
        if isinstance(db, sqlite3.Connection):
            db.execute("ROLLBACK")
            db.close()
        elif db is not None:
            db.close()

    @property
    def held(self) -> bool:
        """Whether the lock is held now."""
        return self._db is not None


@contextmanager
def hold_ledger_lock(path: str | Path) -> Iterator[None]:
    """Make the ledger unavailable for the ``with`` block."""
    lock = LedgerLock(path)
    lock.acquire()
    try:
        yield
    finally:
        lock.release()


def slow_ledger(
    failpoints_path: str | Path,
    operations: list[Operation],
    delay_ms: int,
    *,
    after_commit: bool = False,
    stall: bool = False,
) -> None:
    """Delay each of ``operations`` by ``delay_ms`` in the account service, before it runs,
    (``after_commit``) after it took effect and before it answers, or (``stall``) inside its
    database call, where the activity's timeout cannot cancel it."""
    if stall:
        point = Failpoint(stall_ms=delay_ms)
    elif after_commit:
        point = Failpoint(delay_after_ms=delay_ms)
    else:
        point = Failpoint(delay_ms=delay_ms)
    write_failpoints(failpoints_path, dict.fromkeys(operations, point))


def heal_ledger(failpoints_path: str | Path) -> None:
    """Remove every failpoint."""
    write_failpoints(failpoints_path, {})
