"""A deliberately incompatible PaymentWorkflow: it debits before validating, with no patch.

Alone in its module because the workflow sandbox re-imports the module that defines a workflow.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from orchestrator.activities.accounts import AccountActivities
    from orchestrator.models import (
        ACCOUNTS_QUEUE,
        LedgerRequest,
        PaymentOutcome,
        PaymentRequest,
        PaymentState,
    )
    from orchestrator.workflows.compensation import Compensations
    from orchestrator.workflows.payment import (
        ACCOUNT_CALL,
        Decision,
        PaymentWorkflow,
        retry_policy,
    )


@workflow.defn(name="PaymentWorkflow")
class ReorderedPaymentWorkflow(PaymentWorkflow):
    """Moves the debit in front of the validation: an unpatched reorder of activity calls."""

    @workflow.run
    async def run(self, request: PaymentRequest) -> PaymentOutcome:
        return await super().run(request)

    async def _forward(self, compensations: Compensations) -> Decision:
        r = self._request
        await workflow.execute_activity_method(
            AccountActivities.debit_account,
            LedgerRequest(r.payment_id, r.user_id, r.amount),
            task_queue=ACCOUNTS_QUEUE,
            start_to_close_timeout=ACCOUNT_CALL,
            retry_policy=retry_policy(r.options.account_retry),
        )
        return PaymentState.SUCCEEDED, None
