"""One cluster-backend stack (``saga up --backend cluster``) for this package: the Temporal
server's services on PostgreSQL, the ledger on PostgreSQL, two account workers, Toxiproxy on
every link (``db`` included) and Prometheus."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from runtime.cluster import INSTALL_HINT
from runtime.embedded import EmbeddedStack, StackOptions
from runtime.links import INSTALL_HINT as TOXIPROXY_HINT
from runtime.links import find_toxiproxy_server
from runtime.postgres import INSTALL_HINT as POSTGRES_HINT
from runtime.postgres import postgres_bin
from tests.binaries import missing, require_binary
from tests.state_dirs import fixture_state_dir


@pytest.fixture(scope="package")
def cluster(request: pytest.FixtureRequest) -> Iterator[EmbeddedStack]:
    require_binary("temporal-server", INSTALL_HINT)
    require_binary("temporal-sql-tool", INSTALL_HINT)
    if find_toxiproxy_server() is None:
        require_binary("toxiproxy-server", TOXIPROXY_HINT)
    if postgres_bin() is None:
        missing(f"PostgreSQL not found: {POSTGRES_HINT}")
    with fixture_state_dir(request, "saga-cluster-it-") as state_dir:
        options = StackOptions(
            state_dir=state_dir,
            ui=False,
            toxiproxy="on",
            prometheus="on" if os.environ.get("CI") else "auto",
            backend="cluster",
            worker_versioning=True,
        )
        with EmbeddedStack(options) as running:
            yield running
