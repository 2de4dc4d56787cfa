"""A small pool of PostgreSQL connections for the ledger: idle connections kept for reuse, no
background threads.

Why not ``psycopg_pool``: its background reconnection backs off exponentially while the
database is down (1 s, 2 s, 4 s, ...), so after the database comes back operations can wait out
that backoff and time out on a database that is up, spending the saga's retry budget (with it,
the restart test below raised ``PoolTimeout`` in 2 of 3 runs). Here a connection is checked when
it is taken, by the caller's opening statement itself (no round trip of its own): an idle one
the server cut since fails it and is closed, a new one is dialled at once, by the operation that
needs it, and the opening runs on that. A connection given back inside a transaction is rolled
back; one an operation left broken is closed.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus

Connection = psycopg.Connection[Any]
Cursor = psycopg.Cursor[Any]


class ConnectionPool:
    """At most ``size`` idle autocommit connections to ``url`` (callers open their own
    transactions); more are dialled when all are in use, and closed when given back."""

    def __init__(self, url: str, size: int, connect_timeout_s: float) -> None:
        self.url = url
        self.size = size
        self.connect_timeout_s = max(1, int(connect_timeout_s))
        self._idle: list[Connection] = []
        self._lock = threading.Lock()

    def _dial(self) -> Connection:
        return psycopg.connect(self.url, autocommit=True, connect_timeout=self.connect_timeout_s)

    def _take(self, opening: bytes) -> tuple[Connection, Cursor]:
        while True:
            with self._lock:
                idle = self._idle.pop() if self._idle else None
            connection = self._dial() if idle is None else idle
            try:
                return connection, connection.execute(opening)
            except psycopg.Error:
                if idle is not None and (connection.broken or connection.closed):
                    with contextlib.suppress(psycopg.Error):
                        connection.close()
                    continue  # the server restarted or cut it while it was idle
                self._give_back(connection)
                raise

    def _give_back(self, connection: Connection) -> None:
        live = not connection.closed and not connection.broken
        if live and connection.info.transaction_status != TransactionStatus.IDLE:
            with contextlib.suppress(psycopg.Error):
                connection.execute("ROLLBACK")
        healthy = (
            not connection.closed
            and not connection.broken
            and connection.info.transaction_status == TransactionStatus.IDLE
        )
        with self._lock:
            if healthy and len(self._idle) < self.size:
                self._idle.append(connection)
                return
        with contextlib.suppress(psycopg.Error):
            connection.close()

    @contextmanager
    def connection(self, opening: bytes = b"") -> Iterator[tuple[Connection, Cursor]]:
        """A live connection for the ``with`` block and the cursor of ``opening`` run on it
        (statements without parameters, safe to run again on another connection when the
        first turns out dead: a ``BEGIN`` and its locks); given back (or closed) afterwards."""
        connection, cursor = self._take(opening)
        try:
            yield connection, cursor
        finally:
            self._give_back(connection)

    def close(self) -> None:
        """Close the idle connections."""
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            with contextlib.suppress(psycopg.Error):
                connection.close()
