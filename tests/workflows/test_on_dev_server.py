"""Paths the time-skipping test server cannot run, on the Temporal dev server: a fraud child that
cannot start (the test server answers ``ACTIVITY_UNKNOWN`` to the charge's cancel in that
activation) and a compensation whose worker is absent (the test server stops skipping time)."""

from __future__ import annotations

import asyncio
import uuid

from temporalio.testing import WorkflowEnvironment

from orchestrator.models import ACCOUNTS_QUEUE, PAYMENTS_QUEUE, PaymentRequest, SagaOptions
from orchestrator.workflows.payment import PaymentWorkflow
from tests.workflows.fakes import FakeServices


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


async def test_a_compensation_whose_worker_is_absent_shows_as_a_failed_round(
    dev_env: WorkflowEnvironment,
) -> None:
    """Issue 34, item 12: with no account worker at all, a refund round waited in the task
    queue for ever (no start-to-close timeout starts), so ``compensations_retrying`` and its
    alert stayed quiet. Each round is now bounded (``compensation_round_s``)."""
    payment_id = f"pay-{uuid.uuid4().hex[:12]}"
    client = dev_env.client
    fakes = FakeServices(client, callback=None)
    options = SagaOptions(callback_timeout_s=2, compensation_round_s=2)
    # Not cached: the second set of workers gets the workflow's tasks, not a sticky queue.
    async with fakes.workers(max_cached_workflows=0):
        handle = await client.start_workflow(
            PaymentWorkflow.run,
            PaymentRequest(payment_id, "alice", 1999, "USD", "card", options),
            id=payment_id,
            task_queue=PAYMENTS_QUEUE,
        )
        for _ in range(100):
            if (await handle.query(PaymentWorkflow.status)).step == "await_confirmation":
                break
            await asyncio.sleep(0.05)
    # The callback timer fires and the saga compensates while the accounts service is down.
    async with fakes.workers(absent=frozenset({ACCOUNTS_QUEUE})):
        for _ in range(150):
            final = await handle.query(PaymentWorkflow.status)
            if final.compensations_retrying:
                break
            await asyncio.sleep(0.1)
        await handle.terminate()
    assert final.step == "compensate" and final.compensations_retrying == ["refund"], final
    assert "compensation_retrying:refund" in [e.event for e in final.timeline]
