"""One cluster-backend stack (``saga up --backend cluster``) for this package: the Temporal
server's services on PostgreSQL, the ledger on PostgreSQL, two account workers, Toxiproxy on
every link (``db`` included) and Prometheus."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from runtime.embedded import EmbeddedStack, StackOptions
from tests.binaries import require_binary
from tests.state_dirs import fixture_state_dir


@pytest.fixture(scope="package")
def cluster(request: pytest.FixtureRequest) -> Iterator[EmbeddedStack]:
    require_binary("temporal-server")
    require_binary("temporal-sql-tool")
    require_binary("toxiproxy-server")
    require_binary("initdb")
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
