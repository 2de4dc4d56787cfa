"""A throwaway PostgreSQL server for tests: ``initdb`` into a temp directory, loopback only, a
free port, stopped (``pg_ctl stop -m immediate``) on every path."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import count

import psycopg

from runtime.processes import free_port

INSTALL_HINT = "install Debian's postgresql package (`make system-deps` does, as root)"


def postgres_bin() -> str | None:
    """The directory of ``initdb`` and ``pg_ctl``: Debian keeps them off PATH."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return os.path.dirname(found[-1])
    initdb = shutil.which("initdb")
    return os.path.dirname(initdb) if initdb else None


def _as_owner(argv: list[str]) -> list[str]:
    # initdb and postgres refuse to run as root; Debian's package creates the postgres user.
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


@contextmanager
def postgres_server(bin_dir: str) -> Iterator[PostgresServer]:
    """A running server; yields what makes a fresh database."""
    data = tempfile.mkdtemp(prefix="saga-pg-")
    if os.geteuid() == 0:
        shutil.chown(data, "postgres", "postgres")
    port = free_port()
    subprocess.run(
        _as_owner(
            [f"{bin_dir}/initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8"]
        ),
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off"
    pg_ctl = [f"{bin_dir}/pg_ctl", "-D", data, "-l", f"{data}/server.log"]
    subprocess.run(
        _as_owner([*pg_ctl, "-o", options, "-w", "start"]), check=True, capture_output=True
    )
    try:
        yield PostgresServer(f"postgresql://postgres@127.0.0.1:{port}")
    finally:
        subprocess.run(_as_owner([*pg_ctl, "-m", "immediate", "stop"]), capture_output=True)
        shutil.rmtree(data, ignore_errors=True)


class PostgresServer:
    """A server's base URL; :meth:`database` creates an empty database on it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._names = count()

    def database(self) -> str:
        """The URL of a new, empty database."""
        name = f"t{next(self._names)}"
        with psycopg.connect(f"{self.url}/postgres", autocommit=True) as admin:
            admin.execute(f"CREATE DATABASE {name}")
        return f"{self.url}/{name}"
