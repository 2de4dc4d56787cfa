"""Deliberately broken sagas for the regression-catching tests, one bug each.

Kept alone in this module because the workflow sandbox re-imports the module that defines a
workflow, and this one must import only what a workflow may.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

from temporalio import workflow
from temporalio.exceptions import ActivityError, is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from orchestrator.models import PaymentOutcome, PaymentRequest
    from orchestrator.workflows.payment import ATOMIC_VELOCITY_PATCH, Decision, PaymentWorkflow

T = TypeVar("T")


@workflow.defn(name="PaymentWorkflow")
class RefundRemovedPaymentWorkflow(PaymentWorkflow):
    """The regression under test: the refund compensation silently does nothing."""

    @workflow.run
    async def run(self, request: PaymentRequest) -> PaymentOutcome:
        return await super().run(request)

    async def _refund(self) -> str | None:
        return None


@workflow.defn(name="PaymentWorkflow")
class CancelEscapesPaymentWorkflow(PaymentWorkflow):
    """Undoes the Temporal-cancel fix: a cancel raised at an activity escapes ``run()``."""

    @workflow.run
    async def run(self, request: PaymentRequest) -> PaymentOutcome:
        return await super().run(request)

    def _stopped_by(self, err: Exception) -> Decision:
        if is_cancelled_exception(err):
            raise err
        return super()._stopped_by(err)


@workflow.defn(name="PaymentWorkflow")
class ErrorsEscapePaymentWorkflow(PaymentWorkflow):
    """Undoes the retries-exhausted fix: an account step that gives up fails the execution (no
    compensation, no notification, search attribute stuck), as before the fix."""

    @workflow.run
    async def run(self, request: PaymentRequest) -> PaymentOutcome:
        return await super().run(request)

    async def _account_step(self, call: Awaitable[T]) -> T:
        return await call

    def _stopped_by(self, err: Exception) -> Decision:
        if isinstance(err, ActivityError):
            raise err
        return super()._stopped_by(err)


@workflow.defn(name="PaymentWorkflow")
class VoidRejectionForgottenPaymentWorkflow(PaymentWorkflow):
    """Undoes the review state: a capture that cannot be voided is forgotten, the debit refunded."""

    @workflow.run
    async def run(self, request: PaymentRequest) -> PaymentOutcome:
        return await super().run(request)

    async def _refund(self) -> str | None:
        self._needs_review = False
        return await super()._refund()


@workflow.defn(name="PaymentWorkflow")
class VelocityOutsideTheDebitPaymentWorkflow(PaymentWorkflow):
    """Undoes the atomic velocity limit: new payments take the old, separate check."""

    UNRELEASED_PATCHES = frozenset({ATOMIC_VELOCITY_PATCH})

    @workflow.run
    async def run(self, request: PaymentRequest) -> PaymentOutcome:
        return await super().run(request)
