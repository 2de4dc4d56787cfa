"""Account service activities (task queue ``accounts``): validate, debit, refund."""

from __future__ import annotations

import asyncio

from temporalio import activity
from temporalio.exceptions import ApplicationError

from orchestrator.errors import AccountNotFound, InsufficientFunds
from orchestrator.ledger import Ledger
from orchestrator.models import (
    LedgerRequest,
    LedgerResult,
    ValidateRequest,
    ValidationResult,
    VelocityRequest,
)


class AccountActivities:
    """Activities bound to one ledger; SQLite calls run in a thread to keep the loop free."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    @activity.defn
    async def validate_payment(self, request: ValidateRequest) -> ValidationResult:
        """Check account, method, amount and balance; moves no money."""
        return await asyncio.to_thread(
            self.ledger.validate,
            request.user_id,
            request.amount,
            request.currency,
            request.payment_method,
            request.max_amount,
        )

    @activity.defn
    async def check_velocity(self, request: VelocityRequest) -> ValidationResult:
        """How many payments the user made recently; moves no money."""
        return await asyncio.to_thread(
            self.ledger.velocity,
            request.user_id,
            request.payment_id,
            request.window_s,
            request.max_payments,
        )

    @activity.defn
    async def debit_account(self, request: LedgerRequest) -> LedgerResult:
        """Debit once per payment; a business refusal is non-retryable."""
        try:
            return await asyncio.to_thread(
                self.ledger.debit, request.payment_id, request.user_id, request.amount
            )
        except InsufficientFunds as exc:
            raise ApplicationError(str(exc), type="InsufficientFunds", non_retryable=True) from exc
        except AccountNotFound as exc:
            raise ApplicationError(str(exc), type="AccountNotFound", non_retryable=True) from exc

    @activity.defn
    async def refund_account(self, request: LedgerRequest) -> LedgerResult:
        """Refund the payment's debit once; a payment never debited refunds nothing."""
        return await asyncio.to_thread(self.ledger.refund, request.payment_id, request.user_id)
