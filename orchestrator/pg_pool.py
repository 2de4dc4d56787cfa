"""A small pool of PostgreSQL connections for the ledger: idle connections kept for reuse, no
background threads.

Why not ``psycopg_pool``: its background reconnection backs off exponentially while the
database is down (1 s, 2 s, 4 s, ...), so after the database comes back operations can wait out
that backoff and time out on a database that is up, spending the saga's retry budget (with it,
the restart test below raised ``PoolTimeout`` in 2 of 3 runs). Here a connection is checked when
it is taken (an empty statement), one that fails the check or that an operation left broken is
closed, and a new one is dialled at once, by the operation that needs it.
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

    def _take(self) -> Connection:
        while True:
            with self._lock:
                idle = self._idle.pop() if self._idle else None
            if idle is None:
                return self._dial()
            try:
                idle.execute("")  # the server may have restarted or cut it since
            except psycopg.Error:
                with contextlib.suppress(psycopg.Error):
                    idle.close()
                continue
            return idle

    def _give_back(self, connection: Connection) -> None:
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
    def connection(self) -> Iterator[Connection]:
        """A live connection for the ``with`` block, given back (or closed) afterwards."""
        connection = self._take()
        try:
            yield connection
        finally:
            self._give_back(connection)

    def close(self) -> None:
        """Close the idle connections."""
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            with contextlib.suppress(psycopg.Error):
                connection.close()
