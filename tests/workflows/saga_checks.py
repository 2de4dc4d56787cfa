"""What every path of the saga must leave behind, shared by the workflow test modules."""

from __future__ import annotations

from temporalio.client import WorkflowExecutionStatus

from orchestrator.models import PaymentOutcome, RetryOptions, SagaOptions
from orchestrator.workflows.payment import PAYMENT_STATUS
from tests.workflows.fakes import FakeServices
from tests.workflows.test_payment_workflow import Handle, status

FAST_ACCOUNTS = SagaOptions(
    account_retry=RetryOptions(initial_interval_s=1, maximum_interval_s=1, maximum_attempts=3),
    charge_retry=RetryOptions(initial_interval_s=1, maximum_interval_s=1, maximum_attempts=1000),
)


async def finish(handle: Handle, fakes: FakeServices) -> PaymentOutcome:
    """The outcome, after checking what every path must leave behind."""
    outcome = await handle.result()
    description = await handle.describe()
    assert description.status == WorkflowExecutionStatus.COMPLETED
    assert description.typed_search_attributes.get(PAYMENT_STATUS) == outcome.state
    assert fakes.calls[-1] == f"notify:{outcome.state}"
    final = await status(handle)
    assert final.step == "done" and not final.compensations_retrying
    assert not fakes.money_lost()
    return outcome
