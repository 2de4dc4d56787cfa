"""One real stack, with Toxiproxy on every link, for the scenario regression suite."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from runtime.embedded import EmbeddedStack, StackOptions
from tests.binaries import require_binary
from tests.state_dirs import fixture_state_dir


@pytest.fixture(scope="package")
def chaos_stack(request: pytest.FixtureRequest) -> Iterator[EmbeddedStack]:
    require_binary("temporal")
    require_binary("toxiproxy-server")
    with fixture_state_dir(request, "saga-scenarios-") as state_dir:
        options = StackOptions(
            state_dir=state_dir,
            ui=False,
            toxiproxy="on",
            worker_versioning=True,
            # In CI a missing Prometheus fails the stack with the install hint; locally it is
            # optional.
            prometheus="on" if os.environ.get("CI") else "auto",
        )
        with EmbeddedStack(options) as stack:
            yield stack
