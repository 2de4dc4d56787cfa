"""The Temporal servers of the workflow tests: a time-skipping test server shared by the tests of
one module (``env``), and a dev server (``dev_env``) for what the test server cannot do (it
answers ``ACTIVITY_UNKNOWN`` to some activity cancels, and stops skipping time while an activity
task waits for a worker that is absent)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from orchestrator.payload_json import SAGA_DATA_CONVERTER
from orchestrator.temporal_client import register_search_attributes
from tests.binaries import require_binary


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def env() -> AsyncIterator[WorkflowEnvironment]:
    path = require_binary("temporal-test-server")
    async with await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=path, data_converter=SAGA_DATA_CONVERTER
    ) as env:
        await register_search_attributes(env.client)
        yield env


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    path = require_binary("temporal")
    async with await WorkflowEnvironment.start_local(
        dev_server_existing_path=path, data_converter=SAGA_DATA_CONVERTER
    ) as env:
        await register_search_attributes(env.client)
        yield env
