"""A PostgreSQL server for the ledger, from Debian's package: ``initdb`` into a fresh temp
directory, then ``postgres`` itself as a :class:`ManagedProcess` (loopback only, a free port),
so the stack stops it like any other process and faults can kill or pause it.

``initdb`` and ``postgres`` refuse to run as root; as root both run as the ``postgres`` user the
package creates, with the data directory outside the (root-only) state directory.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg

from runtime.binaries import BinaryMissing, find, install_hint
from runtime.errors import StackError
from runtime.processes import ServerProcess, port_open

MAX_CONNECTIONS = 300


def postgres_bin() -> str | None:
    """The directory of ``initdb`` and ``postgres`` (Debian keeps them off PATH), or None."""
    initdb = find("initdb")
    return os.path.dirname(initdb) if initdb else None


def _as_owner(argv: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


def init_cluster() -> tuple[str, Path]:
    """A new, empty cluster: (the binaries' directory, the data directory)."""
    bin_dir = postgres_bin()
    if bin_dir is None:
        raise BinaryMissing(f"PostgreSQL not found: {install_hint('initdb')}")
    data = Path(tempfile.mkdtemp(prefix="saga-pg-"))
    if os.geteuid() == 0:
        shutil.chown(data, "postgres", "postgres")
    initdb = [f"{bin_dir}/initdb", "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"]
    done = subprocess.run(_as_owner(initdb), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        shutil.rmtree(data, ignore_errors=True)
        raise StackError(f"initdb failed:\n{done.stdout}{done.stderr}")
    return bin_dir, data


def server_process(bin_dir: str, data: Path, port: int, log: Path) -> ServerProcess:
    """The ``postgres`` server on 127.0.0.1:``port`` (not yet launched)."""
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
    return ServerProcess("postgres", argv, log, lambda: accepts_connections(port), user=owner)


def accepts_connections(port: int) -> bool:
    """Whether the server answers a query: it listens before crash recovery is done, and
    refuses connections until then."""
    if not port_open(port):
        return False
    try:
        with psycopg.connect(url(port), connect_timeout=1) as pg:
            pg.execute("SELECT 1")
    except psycopg.Error:
        return False
    return True


def url(port: int, database: str = "postgres") -> str:
    """The URL of a database on the local server."""
    return f"postgresql://postgres@127.0.0.1:{port}/{database}"


def create_database(port: int, name: str) -> str:
    """Create an empty database; its URL."""
    with psycopg.connect(url(port), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return url(port, name)
