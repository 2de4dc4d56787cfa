"""Every path ends terminal, compensated, notified and COMPLETED, and no money is lost.

Retries exhausted at every account step, a compensation that fails for a while, a capture that
cannot be voided, and a callback for another charge; all in virtual time. Temporal cancels are
in ``test_temporal_cancel.py`` (the test server stops skipping time after a workflow cancel, so
they get a server of their own).
"""

from __future__ import annotations

from temporalio.testing import WorkflowEnvironment

from orchestrator.models import SagaOptions
from tests.workflows.fakes import FakeServices
from tests.workflows.saga_checks import FAST_ACCOUNTS, finish
from tests.workflows.test_payment_workflow import start, status


async def test_validate_retries_exhausted_fail_without_moving_money(
    env: WorkflowEnvironment,
) -> None:
    fakes = FakeServices(env.client, validate_fails=True)
    async with fakes.workers():
        handle = await start(env, FAST_ACCOUNTS)
        outcome = await finish(handle, fakes)
    assert (outcome.state, outcome.reason, outcome.compensations) == (
        "failed",
        "accounts_unavailable",
        [],
    )
    # Validation is the debit's first step (validated-debit): three attempts, none committed;
    # the refund kept for a debit that may have committed finds none and leaves a tombstone.
    assert fakes.calls.count("debit") == 3 and "debit:committed" not in fakes.calls
    assert not fakes.debited and handle.id in fakes.tombstones


async def test_debit_retries_exhausted_after_a_commit_refund_it(env: WorkflowEnvironment) -> None:
    fakes = FakeServices(env.client, debit_commits_then_fails=True)
    async with fakes.workers():
        handle = await start(env, FAST_ACCOUNTS)
        outcome = await finish(handle, fakes)
    assert (outcome.state, outcome.reason) == ("failed", "accounts_unavailable")
    assert outcome.compensations == ["refund"]
    assert fakes.refunded == {handle.id: 1}


async def test_a_refund_that_keeps_failing_surfaces_and_still_completes(
    env: WorkflowEnvironment,
) -> None:
    # One round is 10 attempts: 12 failures make the first round fail and show.
    fakes = FakeServices(env.client, decline=True, refund_failures=12)
    async with fakes.workers():
        handle = await start(env, FAST_ACCOUNTS)
        outcome = await finish(handle, fakes)  # waiting for the result lets virtual time run
        final = await status(handle)
    assert outcome.state == "failed" and outcome.compensations[-1] == "refund"
    events = [e.event for e in final.timeline]
    assert events.count("compensation_retrying:refund") == 1
    assert events.index("compensation_retrying:refund") < events.index("compensated:refund")


async def test_a_captured_charge_ends_in_review_and_keeps_the_debit(
    env: WorkflowEnvironment,
) -> None:
    fakes = FakeServices(env.client, captured=True, fraud_passes=False, callback=None)
    async with fakes.workers():
        handle = await start(env)
        outcome = await finish(handle, fakes)
        final = await status(handle)
    assert (outcome.state, outcome.reason) == ("failed", "refund_requires_review")
    assert "refund" not in fakes.calls and handle.id in fakes.debited
    events = [e.event for e in final.timeline]
    assert "void_rejected" in events and "refund_withheld" in events


async def test_a_callback_for_another_charge_is_ignored(env: WorkflowEnvironment) -> None:
    fakes = FakeServices(env.client, callback_charge_id="ch_someone_else")
    async with fakes.workers():
        handle = await start(env, SagaOptions(callback_timeout_s=60))
        outcome = await finish(handle, fakes)
        final = await status(handle)
    assert (outcome.state, outcome.reason) == ("failed", "callback_timeout")
    assert "callback_mismatched" in [e.event for e in final.timeline]
