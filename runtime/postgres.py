"""A PostgreSQL server for the ledger, from Debian's package: ``initdb`` into a fresh temp
directory, then ``postgres`` itself as a :class:`ManagedProcess` (loopback only, a free port),
so the stack stops it like any other process and faults can kill or pause it.

``initdb`` and ``postgres`` refuse to run as root; as root both run as the ``postgres`` user the
package creates, with the data directory outside the (root-only) state directory.
"""

from __future__ import annotations

import itertools
import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import psycopg

from runtime.binaries import BinaryMissing, find, install_hint
from runtime.errors import StackError
from runtime.processes import ServerProcess, free_port, port_open

MAX_CONNECTIONS = 300


def postgres_bin() -> str | None:
    """The directory of ``initdb`` and ``postgres`` (Debian keeps them off PATH), or None."""
    initdb = find("initdb")
    return os.path.dirname(initdb) if initdb else None


def _as_owner(argv: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


@dataclass(frozen=True)
class Cluster:
    """A cluster ``initdb`` made: its binaries, its data directory, and the superuser's
    password (generated: every connection, even on loopback, must present it)."""

    bin_dir: str
    data: Path
    password: str


def init_cluster() -> Cluster:
    """A new, empty cluster whose superuser ``postgres`` has a generated password
    (``scram-sha-256`` for every connection, the Unix socket's included)."""
    bin_dir = postgres_bin()
    if bin_dir is None:
        raise BinaryMissing(f"PostgreSQL not found: {install_hint('initdb')}")
    data = Path(tempfile.mkdtemp(prefix="saga-pg-"))
    password = secrets.token_urlsafe(24)
    pwfile = Path(tempfile.mkdtemp(prefix="saga-pgpw-")) / "password"
    pwfile.write_text(password + "\n")
    pwfile.chmod(0o600)
    if os.geteuid() == 0:
        shutil.chown(data, "postgres", "postgres")
        shutil.chown(pwfile.parent, "postgres", "postgres")
        shutil.chown(pwfile, "postgres", "postgres")
    initdb = [
        f"{bin_dir}/initdb",
        "-D",
        str(data),
        "-U",
        "postgres",
        "--auth=scram-sha-256",
        f"--pwfile={pwfile}",
        "-E",
        "UTF8",
    ]
    try:
        done = subprocess.run(_as_owner(initdb), capture_output=True, text=True, check=False)
    finally:
        shutil.rmtree(pwfile.parent, ignore_errors=True)
    if done.returncode != 0:
        shutil.rmtree(data, ignore_errors=True)
        raise StackError(f"initdb failed:\n{done.stdout}{done.stderr}")
    return Cluster(bin_dir, data, password)


def server_process(cluster: Cluster, port: int, log: Path) -> ServerProcess:
    """The ``postgres`` server of ``cluster`` on 127.0.0.1:``port`` (not yet launched)."""
    bin_dir, data = cluster.bin_dir, cluster.data
    argv = [
        f"{bin_dir}/postgres",
        "-D",
        str(data),
        "-p",
        str(port),
        "-k",
        str(data),
        "-c",
        "listen_addresses=127.0.0.1",
        # Four Temporal services (25 connections each), two account workers' pools (32 each),
        # the harness and the CLI.
        "-c",
        f"max_connections={MAX_CONNECTIONS}",
    ]
    # Run as the owner directly (not through runuser): then the server is this process's own
    # child, reaped when it dies, so a restart never finds its lock file held by a zombie.
    owner = "postgres" if os.geteuid() == 0 else None
    ready = lambda: accepts_connections(port, cluster.password)  # noqa: E731
    return ServerProcess("postgres", argv, log, ready, user=owner)


def accepts_connections(port: int, password: str) -> bool:
    """Whether the server answers a query: it listens before crash recovery is done, and
    refuses connections until then."""
    if not port_open(port):
        return False
    try:
        with psycopg.connect(url(port, password=password), connect_timeout=1) as pg:
            pg.execute("SELECT 1")
    except psycopg.Error:
        return False
    return True


def url(port: int, database: str = "postgres", *, password: str) -> str:
    """The URL of a database on the local server, as its superuser."""
    return f"postgresql://postgres:{quote(password, safe='')}@127.0.0.1:{port}/{database}"


def create_database(port: int, name: str, password: str) -> str:
    """Create an empty database; its URL."""
    with psycopg.connect(url(port, password=password), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return url(port, name, password=password)


class ThrowawayServer:
    """A running server of a fresh cluster; :meth:`database` creates an empty database on it."""

    def __init__(self, port: int, process: ServerProcess, password: str) -> None:
        self.port = port
        self.process = process
        self.password = password
        self._names = itertools.count()

    def database(self) -> str:
        """The URL of a new, empty database."""
        return create_database(self.port, f"t{next(self._names)}", self.password)


@contextmanager
def throwaway_server() -> Iterator[ThrowawayServer]:
    """Start a server in a fresh cluster (tests, benchmarks); stop it and delete the cluster
    afterwards, on every path."""
    cluster = init_cluster()
    data = cluster.data
    port = free_port()
    log = Path(data).parent / f"{data.name}.log"
    server = server_process(cluster, port, log)
    try:
        server.start()
        yield ThrowawayServer(port, server, cluster.password)
    finally:
        server.stop()
        shutil.rmtree(data, ignore_errors=True)
        log.unlink(missing_ok=True)
