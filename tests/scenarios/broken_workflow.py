"""A deliberately broken saga for the regression-catching test: its refund does nothing.

Kept alone in this module because the workflow sandbox re-imports the module that defines a
workflow, and this one must import only what a workflow may.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from orchestrator.models import PaymentOutcome, PaymentRequest
    from orchestrator.workflows.payment import PaymentWorkflow


@workflow.defn(name="PaymentWorkflow")
class RefundRemovedPaymentWorkflow(PaymentWorkflow):
    """The regression under test: the refund compensation silently does nothing."""

    @workflow.run
    async def run(self, request: PaymentRequest) -> PaymentOutcome:
        return await super().run(request)

    async def _refund(self) -> str | None:
        return None
