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

    def __init__(self, port: int, process: ManagedProcess) -> None:
        self.port = port
        self.process = process
        self._names = count()

    def database(self) -> str:
        """The URL of a new, empty database."""
        return create_database(self.port, f"t{next(self._names)}")


@contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """Start a server in a fresh cluster; stop it and delete the cluster afterwards."""
    bin_dir, data = init_cluster()
    port = free_port()
    server = server_process(bin_dir, data, port, Path(data).parent / f"{data.name}.log")
    try:
        server.start()
        yield PostgresServer(port, server)
    finally:
        server.stop()
        shutil.rmtree(data, ignore_errors=True)
        Path(data).parent.joinpath(f"{data.name}.log").unlink(missing_ok=True)
