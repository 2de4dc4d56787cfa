"""Fixtures shared by the unit tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.binaries import missing
from tests.postgres import INSTALL_HINT, PostgresServer, postgres_bin, postgres_server


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A real PostgreSQL server for the session (CI fails without one; locally it skips)."""
    bin_dir = postgres_bin()
    if bin_dir is None:
        missing(f"PostgreSQL not found: {INSTALL_HINT}")
    with postgres_server(bin_dir) as server:
        yield server
