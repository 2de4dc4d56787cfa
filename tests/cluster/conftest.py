"""One cluster-backend stack (``saga up --backend cluster``) for this package: the Temporal
server's services on PostgreSQL, the ledger on PostgreSQL, two account workers, Toxiproxy on
every link (``db`` included) and Prometheus."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from runtime.cluster import INSTALL_HINT
from runtime.embedded import EmbeddedStack, StackOptions
from runtime.links import INSTALL_HINT as TOXIPROXY_HINT
from runtime.links import find_toxiproxy_server
from runtime.postgres import INSTALL_HINT as POSTGRES_HINT
from runtime.postgres import postgres_bin
from tests.binaries import missing, require_binary


@pytest.fixture(scope="package")
def cluster() -> Iterator[EmbeddedStack]:
    require_binary("temporal-server", INSTALL_HINT)
    require_binary("temporal-sql-tool", INSTALL_HINT)
    if find_toxiproxy_server() is None:
        require_binary("toxiproxy-server", TOXIPROXY_HINT)
    if postgres_bin() is None:
        missing(f"PostgreSQL not found: {POSTGRES_HINT}")
    options = StackOptions(
        state_dir=Path(tempfile.mkdtemp(prefix="saga-cluster-it-")),
        ui=False,
        toxiproxy="on",
        prometheus="on" if os.environ.get("CI") else "auto",
        backend="cluster",
        worker_versioning=True,
    )
    with EmbeddedStack(options) as running:
        yield running
