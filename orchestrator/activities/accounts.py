"""Account service activities (task queue ``accounts``): validate, debit, refund, reconcile.

Business refusals are non-retryable :class:`ApplicationError` s whose ``type`` names the refusal
(``InsufficientFunds``, ``AccountNotFound``, ``VelocityLimit``, ``InvalidAmount``,
``PaymentCompensated``); everything else (a locked database, a crash) is retried by Temporal.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from temporalio import activity
from temporalio.exceptions import ApplicationError

from orchestrator.activities.metrics import RECONCILIATION_REPAIRS
from orchestrator.errors import (
    AccountNotFound,
    InsufficientFunds,
    InvalidAmount,
    LedgerError,
    PaymentCompensated,
    PaymentInvalid,
    PaymentSettled,
    VelocityLimitExceeded,
)
from orchestrator.failpoints import Failpoints, Operation
from orchestrator.ledger import Ledger
from orchestrator.models import (
    LedgerDebit,
    LedgerRequest,
    LedgerResult,
    RepairRequest,
    RepairResult,
    ValidateRequest,
    ValidationResult,
    VelocityRequest,
)

T = TypeVar("T")

#: Ledger refusals and the ``ApplicationError.type`` the saga sees for each.
REFUSALS: dict[type[LedgerError], str] = {
    InsufficientFunds: "InsufficientFunds",
    AccountNotFound: "AccountNotFound",
    VelocityLimitExceeded: "VelocityLimit",
    InvalidAmount: "InvalidAmount",
    PaymentCompensated: "PaymentCompensated",
    PaymentInvalid: "PaymentInvalid",
    PaymentSettled: "PaymentSettled",
}


#: Activities the account worker runs at once; each gets a thread for its SQLite call.
MAX_CONCURRENT = 32


class AccountActivities:
    """Activities bound to one ledger; SQLite calls run in threads to keep the loop free.

    The threads are this class's own, one per concurrent activity: a call blocked on a locked
    database holds its thread for the ledger's lock wait, and with the loop's small default
    executor the next attempts would queue behind it past their timeout (and then commit late).
    ``failpoints`` lets the chaos harness slow an operation down (see
    :mod:`orchestrator.failpoints`); without the file they cost one ``stat``.
    """

    def __init__(self, ledger: Ledger, failpoints: Failpoints | None = None) -> None:
        self.ledger = ledger
        self.failpoints = failpoints or Failpoints(None)
        self._threads = ThreadPoolExecutor(MAX_CONCURRENT, thread_name_prefix="ledger")
        for kind in ("refund", "void"):  # exported at 0 from the start, so a first repair
            RECONCILIATION_REPAIRS.labels(kind)  # is an increase Prometheus can see

    async def _run(self, call: Callable[[], T], operation: Operation | None = None) -> T:
        stall_s = self.failpoints.stall_s(operation) if operation else 0.0

        def work() -> T:
            if stall_s:
                # On the thread: cancelling the activity (its timeout) does not stop it.
                time.sleep(stall_s)
            return call()

        return await asyncio.get_running_loop().run_in_executor(self._threads, work)

    @activity.defn
    async def validate_payment(self, request: ValidateRequest) -> ValidationResult:
        """Check account, method, amount and balance; moves no money."""
        await self.failpoints.delay("validate")
        result = await self._run(
            lambda: self.ledger.validate(
                request.user_id,
                request.amount,
                request.currency,
                request.payment_method,
                request.max_amount,
            ),
            "validate",
        )
        await self.failpoints.delay("validate", after=True)
        return result

    @activity.defn
    async def check_velocity(self, request: VelocityRequest) -> ValidationResult:
        """How many payments the user made recently; moves no money (pre-patch path only)."""
        return await self._run(
            lambda: self.ledger.velocity(
                request.user_id, request.payment_id, request.window_s, request.max_payments
            )
        )

    @activity.defn
    async def debit_account(self, request: LedgerRequest) -> LedgerResult:
        """Debit once per payment (within the velocity limit, if the request sets one, and
        validated first, if it carries ``checks``: then the harness's ``validate`` faults apply
        to it too)."""
        operations: list[Operation] = ["validate", "debit"] if request.checks else ["debit"]
        for operation in operations:
            await self.failpoints.delay(operation)
        velocity = (
            (request.velocity_window_s, request.velocity_max_payments)
            if request.velocity_max_payments > 0
            else None
        )
        try:
            result = await self._run(
                lambda: self.ledger.debit(
                    request.payment_id,
                    request.user_id,
                    request.amount,
                    velocity=velocity,
                    checks=request.checks,
                ),
                "debit",
            )
        except LedgerError as exc:
            raise ledger_refusal(exc) from exc
        for operation in operations:
            await self.failpoints.delay(operation, after=True)
        return result

    @activity.defn
    async def refund_account(self, request: LedgerRequest) -> LedgerResult:
        """Refund the payment's debit once, to the debited account; tombstone if none yet."""
        await self.failpoints.delay("refund")
        result = await self._run(lambda: self.ledger.refund(request.payment_id), "refund")
        await self.failpoints.delay("refund", after=True)
        return result

    @activity.defn
    async def list_unrefunded_debits(self) -> list[LedgerDebit]:
        """Every debit without its refund (the reconciler's view of the ledger)."""
        return await self._run(self.ledger.unrefunded_debits)

    @activity.defn
    async def list_unsettled_debits(self) -> list[LedgerDebit]:
        """Every debit of a payment the reconciler has not settled, with whether it was
        refunded (the reconciler's view of the ledger since ``settled-payments``)."""
        return await self._run(self.ledger.unsettled_debits)

    @activity.defn
    async def not_settled(self, payment_ids: list[str]) -> list[str]:
        """Those of these payments the reconciler has not settled yet."""
        return await self._run(lambda: self.ledger.not_settled(payment_ids))

    @activity.defn
    async def mark_settled(self, payment_ids: list[str]) -> int:
        """Mark payments settled: later reconciler passes skip them. Idempotent."""
        return await self._run(lambda: self.ledger.mark_settled(payment_ids))

    @activity.defn
    async def repair_refund(self, request: RepairRequest) -> RepairResult:
        """The reconciler's refund: like the saga's (same key), journaled with its reason."""
        result = await self._run(
            lambda: self.ledger.refund(request.payment_id, repair_reason=request.reason)
        )
        done = result.amount > 0 and not result.duplicate
        if done:
            RECONCILIATION_REPAIRS.labels("refund").inc()
        return RepairResult(request.payment_id, "refund", done=done)

    @activity.defn
    async def journal_repair(self, request: RepairRequest) -> RepairResult:
        """Journal a repair made at the provider (a void) with its reason."""
        added = await self._run(
            lambda: self.ledger.record_repair(request.payment_id, request.kind, request.reason, 0)
        )
        if added:
            RECONCILIATION_REPAIRS.labels(request.kind).inc()
        return RepairResult(request.payment_id, request.kind, done=added)


def ledger_refusal(exc: LedgerError) -> Exception:
    """What an account activity raises for a ledger error: a refusal (one of ``REFUSALS``) as a
    non-retryable ``ApplicationError`` of its type, anything else as it is (retried)."""
    kind = REFUSALS.get(type(exc))
    if kind is None:
        return exc
    details = [exc.reason] if isinstance(exc, PaymentInvalid) else []
    return ApplicationError(str(exc), *details, type=kind, non_retryable=True)
