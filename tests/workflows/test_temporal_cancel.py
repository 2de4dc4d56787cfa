"""Temporal cancels (``temporal workflow cancel``) at every step, and the strict-provider race.

A Temporal cancel must end like the cancel signal: compensated, notified, COMPLETED, and a step
that moves money must settle before its compensation runs. After a workflow cancel the
time-skipping test server no longer skips time, so these tests share a server of their own and
none of them waits on a long timer.
"""

from __future__ import annotations

import asyncio

import pytest
from temporalio.testing import WorkflowEnvironment

from orchestrator.workflows.builds import PaymentWorkflowV1
from tests.workflows.fakes import AT_EACH_STEP, FakeServices, held_at
from tests.workflows.saga_checks import FAST_ACCOUNTS, finish
from tests.workflows.test_payment_workflow import start, wait_for, wait_until


@pytest.mark.parametrize(
    ("step", "switches", "expected"),
    AT_EACH_STEP,
)
async def test_temporal_cancel_at_each_step_ends_cancelled_and_compensated(
    env: WorkflowEnvironment, step: str, switches: dict[str, object], expected: list[str]
) -> None:
    fakes, holds = held_at(env.client, switches)
    async with fakes.workers():
        handle = await start(env, FAST_ACCOUNTS)
        await wait_for(handle, lambda s: s.step == step)
        if step == "charge":
            await wait_until(lambda: fakes.calls.count("charge") >= 2)
        await handle.cancel()  # `temporal workflow cancel`, not the cancel signal
        await asyncio.sleep(0.2)
        for hold in holds:
            hold.set()  # the held step completes after the cancel: it must not be abandoned
        outcome = await finish(handle, fakes)
    assert (outcome.state, outcome.reason) == ("cancelled", "cancel_requested")
    assert outcome.compensations == expected
    if step == "debit":
        # the debit committed after the cancel, and its refund ran after that
        assert fakes.calls.index("debit:committed") < fakes.calls.index("refund")
        assert fakes.refunded == {handle.id: 1}


async def test_strict_provider_void_waits_for_the_charge_in_flight(
    env: WorkflowEnvironment,
) -> None:
    fakes = FakeServices(env.client, strict_provider=True, charge_delay_s=2.0, callback=None)
    async with fakes.workers():
        handle = await start(env, FAST_ACCOUNTS)
        await wait_until(lambda: "charge" in fakes.calls)
        await handle.cancel()
        outcome = await finish(handle, fakes)
    assert outcome.state == "cancelled" and "void" in outcome.compensations
    # the attempt in flight landed first, then the void found it
    assert fakes.calls.index("charge:authorized") < fakes.calls.index("void")
    assert handle.id not in fakes.authorized and handle.id in fakes.voided


async def test_without_the_settle_patch_a_strict_void_race_leaves_a_live_charge(
    env: WorkflowEnvironment,
) -> None:
    """The check above can fail: the previous build (TRY_CANCEL) loses this race."""
    fakes = FakeServices(env.client, strict_provider=True, charge_delay_s=2.0, callback=None)
    async with fakes.workers(payment_workflow=PaymentWorkflowV1):
        handle = await start(env, FAST_ACCOUNTS)
        await wait_until(lambda: "charge" in fakes.calls)
        await handle.cancel()
        outcome = await handle.result()
        await wait_until(lambda: "charge:authorized" in fakes.calls)
    assert outcome.state == "cancelled" and handle.id in fakes.authorized
