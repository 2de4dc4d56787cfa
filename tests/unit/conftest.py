"""Fixtures shared by the unit tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from runtime.postgres import INSTALL_HINT, postgres_bin
from tests.binaries import missing
from tests.postgres import PostgresServer, postgres_server


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A real PostgreSQL server for the session (CI fails without one; locally it skips)."""
    if postgres_bin() is None:
        missing(f"PostgreSQL not found: {INSTALL_HINT}")
    with postgres_server() as server:
        yield server
