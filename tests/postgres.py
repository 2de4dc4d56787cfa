"""A throwaway PostgreSQL server for tests (``runtime.postgres``), stopped on every path."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import count
from pathlib import Path

from runtime.postgres import create_database, init_cluster, server_process
from runtime.processes import ManagedProcess, free_port


class PostgresServer:
    """A running server; :meth:`database` creates an empty database on it."""

    def __init__(self, port: int, process: ManagedProcess, password: str) -> None:
        self.port = port
        self.process = process
        self.password = password
        self._names = count()

    def database(self) -> str:
        """The URL of a new, empty database."""
        return create_database(self.port, f"t{next(self._names)}", self.password)


@contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """Start a server in a fresh cluster; stop it and delete the cluster afterwards."""
    cluster = init_cluster()
    data = cluster.data
    port = free_port()
    server = server_process(cluster, port, Path(data).parent / f"{data.name}.log")
    try:
        server.start()
        yield PostgresServer(port, server, cluster.password)
    finally:
        server.stop()
        shutil.rmtree(data, ignore_errors=True)
        Path(data).parent.joinpath(f"{data.name}.log").unlink(missing_ok=True)
