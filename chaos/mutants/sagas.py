"""Saga mutants: the real ``PaymentWorkflow`` with one small deliberate bug each.

The harness measures its own power with them (``saga mutants run``): a stack started with
``StackOptions(worker_entry=chaos.mutants.worker.entry(name))`` runs that class as
``PaymentWorkflow`` on its payments worker (and the mutant's ledger on its account workers);
every other process is the real one. The product's workers cannot run a mutant: nothing in
``orchestrator`` knows of them.

Each mutant is a subclass that overrides one hook of the saga; the source of the saga itself is
never edited. Kept in a module of its own because the workflow sandbox re-imports the module that
defines a workflow, and this one imports only what a workflow may.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from chaos.mutants.ledgers import (
        NoTombstoneLedger,
        VelocityOffByOneLedger,
        WorkerClockLedger,
    )
    from chaos.mutants.request_logs import ForgetfulRequestLog
    from orchestrator.activities.accounts import AccountActivities
    from orchestrator.activities.provider import ProviderActivities
    from orchestrator.api.request_log import RequestLog
    from orchestrator.ledger import Ledger
    from orchestrator.models import (
        ACCOUNTS_QUEUE,
        CancelRequest,
        Compensation,
        FraudVerdict,
        LedgerRequest,
        LedgerResult,
        NotificationRequest,
        PaymentOutcome,
        PaymentRequest,
        PaymentState,
        ProviderConfirmation,
        Reason,
        VoidRequest,
    )
    from orchestrator.workflows.compensation import Compensations
    from orchestrator.workflows.payment import (
        ACCOUNT_CALL,
        ATOMIC_VELOCITY_PATCH,
        COMPENSATION_ROUND,
        DURABLE_NOTICE_PATCH,
        NOTICE_FALLBACK_PATCH,
        PROVIDER_CALL,
        VALIDATED_DEBIT_PATCH,
        Decision,
        PaymentWorkflow,
        retry_policy,
    )

T = TypeVar("T")


@dataclass(frozen=True)
class Mutant:
    """A named bug: the workflow class that has it, and what it does wrong."""

    name: str
    bug: str
    workflow: type
    equivalent: str | None = None
    """Why no test can tell this mutant from the saga, if that is so (it is then not run)."""
    ledger: type[Ledger] = Ledger
    """The ledger the account workers run (a ledger mutant's; the real one otherwise)."""
    request_log: type[RequestLog] = RequestLog
    """The API's request log (a request-log mutant's, in the virtual world only)."""


MUTANTS: dict[str, Mutant] = {}


def _mutant(
    name: str,
    bug: str,
    equivalent: str | None = None,
    ledger: type[Ledger] = Ledger,
    request_log: type[RequestLog] = RequestLog,
) -> Callable[[type[PaymentWorkflow]], type[PaymentWorkflow]]:
    """Register a subclass as a ``PaymentWorkflow`` mutant (it gets the saga's own ``run``)."""

    def register(cls: type[PaymentWorkflow]) -> type[PaymentWorkflow]:
        # ``self`` unannotated: Temporal requires run's parameters to equal __init__'s exactly.
        async def run(self, request: PaymentRequest) -> PaymentOutcome:  # type: ignore[no-untyped-def]
            return await PaymentWorkflow.run(self, request)

        run.__doc__ = f"The saga with a bug: {bug}"
        run.__qualname__ = f"{cls.__qualname__}.run"  # a method of the class, not a local
        cls.run = workflow.run(run)  # type: ignore[method-assign]
        cls.__doc__ = bug
        defined = workflow.defn(name="PaymentWorkflow")(cls)
        MUTANTS[name] = Mutant(name, bug, defined, equivalent, ledger, request_log)
        return defined

    return register


# -- compensations -----------------------------------------------------------------------------


@_mutant("drop-refund", "the refund compensation does nothing")
class DropRefund(PaymentWorkflow):
    async def _refund(self) -> str | None:
        return None


@_mutant("drop-void", "the void compensation does nothing")
class DropVoid(PaymentWorkflow):
    async def _void(self) -> str | None:
        return None


@_mutant(
    "refund-twice",
    "the refund compensation runs twice",
    equivalent="the ledger makes a refund idempotent by payment id (refund:<payment id>), so a "
    "second refund is a no-op the ledger records nowhere; tests/unit/test_ledger.py proves it",
)
class RefundTwice(PaymentWorkflow):
    async def _refund(self) -> str | None:
        first = await super()._refund()
        await super()._refund()
        return first


@_mutant("void-wrong-charge", "the void names another payment's charge")
class VoidWrongCharge(PaymentWorkflow):
    async def _void(self) -> str | None:
        result = await workflow.execute_activity_method(
            ProviderActivities.void_charge,
            VoidRequest(f"{self._request.payment_id}-other"),
            start_to_close_timeout=PROVIDER_CALL,
            retry_policy=COMPENSATION_ROUND,
        )
        return "charge voided at provider" if result.voided else None


@_mutant("compensate-wrong-order", "compensations run oldest first (refund before void)")
class CompensateWrongOrder(PaymentWorkflow):
    async def _unwind(self, compensations: Compensations) -> None:
        compensations._stack.reverse()
        await super()._unwind(compensations)


@_mutant(
    "void-rejection-forgotten",
    "a capture that cannot be voided is forgotten and the debit refunded (no review state)",
)
class VoidRejectionForgotten(PaymentWorkflow):
    async def _refund(self) -> str | None:
        self._needs_review = False
        return await super()._refund()


# -- notification ------------------------------------------------------------------------------


@_mutant("skip-notification", "the notification is recorded as sent but never sent")
class SkipNotification(PaymentWorkflow):
    async def _notify(self) -> None:
        self._notification = f"sent:{workflow.uuid4()}"
        self._log("notified", "email")


# -- cancels and errors ------------------------------------------------------------------------


@_mutant("ignore-cancel-at-charge", "a cancel that arrives while charging is dropped")
class IgnoreCancelAtCharge(PaymentWorkflow):
    @workflow.signal(name="cancel")
    def cancel(self, request: CancelRequest) -> None:
        if self._step != "charge":
            super().cancel(request)


#: The next three break code only payments started before validated-debit still run (a Temporal
#: cancel or an error raised by validation, a call of its own there); on the validated-debit path
#: no activity error reaches it, so they run that older path.
OLD_VALIDATION_PATH = frozenset({VALIDATED_DEBIT_PATCH})


@_mutant("cancel-escapes", "a Temporal cancel raised at an activity escapes run()")
class CancelEscapes(PaymentWorkflow):
    UNRELEASED_PATCHES = OLD_VALIDATION_PATH

    def _stopped_by(self, err: Exception) -> Decision:
        if is_cancelled_exception(err):
            raise err
        return super()._stopped_by(err)


@_mutant(
    "cancel-read-as-error",
    "only asyncio.CancelledError is taken for a Temporal cancel: one that surfaces at an activity"
    " (a cancelled ActivityError) ends the payment failed, internal_error",
)
class CancelReadAsError(PaymentWorkflow):
    UNRELEASED_PATCHES = OLD_VALIDATION_PATH

    def _stopped_by(self, err: Exception) -> Decision:
        self._log("internal_error", f"{type(err).__name__}: {err}")
        return PaymentState.FAILED, Reason.INTERNAL_ERROR


@_mutant(
    "errors-escape",
    "an account step whose retries run out fails the execution (no compensation, no notice)",
)
class ErrorsEscape(PaymentWorkflow):
    UNRELEASED_PATCHES = OLD_VALIDATION_PATH

    async def _account_step(self, call: Awaitable[T]) -> T:
        return await call

    def _stopped_by(self, err: Exception) -> Decision:
        if isinstance(err, ActivityError):
            raise err
        return super()._stopped_by(err)


# -- the ledger --------------------------------------------------------------------------------


@_mutant("debit-twice", "the account is debited a second time, under a key of the saga's own")
class DebitTwice(PaymentWorkflow):
    async def _charge_branch(self) -> None:
        r = self._request
        await workflow.execute_activity_method(
            AccountActivities.debit_account,
            LedgerRequest(f"{r.payment_id}:again", r.user_id, r.amount),
            task_queue=ACCOUNTS_QUEUE,
            start_to_close_timeout=ACCOUNT_CALL,
            retry_policy=retry_policy(r.options.account_retry),
        )
        await super()._charge_branch()


@_mutant("wrong-amount", "the saga moves one unit more than requested (debit, charge, refund)")
class WrongAmount(PaymentWorkflow):
    async def _forward(self, compensations: Compensations) -> Decision:
        self._request = dataclasses.replace(self._request, amount=self._request.amount + 1)
        return await super()._forward(compensations)


@_mutant("velocity-outside-debit", "the velocity limit is checked apart from the debit (racy)")
class VelocityOutsideDebit(PaymentWorkflow):
    UNRELEASED_PATCHES = frozenset({ATOMIC_VELOCITY_PATCH, VALIDATED_DEBIT_PATCH})


@_mutant(
    "try-cancel-debit",
    "the debit is not shielded: a Temporal cancel abandons it in flight (TRY_CANCEL)",
)
class TryCancelDebit(PaymentWorkflow):
    def _debit(self, request: LedgerRequest, retry: RetryPolicy) -> Awaitable[LedgerResult]:
        return workflow.execute_activity_method(
            AccountActivities.debit_account,
            request,
            task_queue=ACCOUNTS_QUEUE,
            start_to_close_timeout=ACCOUNT_CALL,
            retry_policy=retry,
            cancellation_type=workflow.ActivityCancellationType.TRY_CANCEL,
        )


@_mutant(
    "drop-refund-on-refusal",
    "a refused debit drops its refund, so an earlier attempt still stalled can commit later",
)
class DropRefundOnRefusal(PaymentWorkflow):
    def _refused(self, compensations: Compensations) -> None:
        compensations.discard(Compensation.REFUND)


@_mutant(
    "no-refund-tombstone",
    "a refund that finds no debit leaves no tombstone (a late debit commits after it)",
    ledger=NoTombstoneLedger,
)
class NoRefundTombstone(PaymentWorkflow):
    pass


# -- the provider and its callbacks ------------------------------------------------------------


@_mutant("retry-decline", "a declined charge is tried again, up to the charge retry budget")
class RetryDecline(PaymentWorkflow):
    async def _charge_branch(self) -> None:
        tries = self._request.options.charge_retry.maximum_attempts
        for attempt in range(1, tries + 1):
            await super()._charge_branch()
            if self._charge_error is not Reason.PROVIDER_DECLINED or attempt == tries:
                return
            self._charge_error = None  # before the saga can see it: try again
            self._attempts = attempt + 1


@_mutant("no-callback-timer", "the saga waits for the provider's confirmation without a timer")
class NoCallbackTimer(PaymentWorkflow):
    async def _forward(self, compensations: Compensations) -> Decision:
        forever = dataclasses.replace(self._request.options, callback_timeout_s=10.0**7)
        self._request = dataclasses.replace(self._request, options=forever)
        return await super()._forward(compensations)


@_mutant("no-dedup", "callbacks are not de-duplicated by event id")
class NoDedup(PaymentWorkflow):
    @workflow.signal(name="provider_confirmation")
    def provider_confirmation(self, confirmation: ProviderConfirmation) -> None:
        self._seen_events.discard(confirmation.event_id)
        super().provider_confirmation(confirmation)


@_mutant("accept-foreign-callback", "a callback for another charge is taken as this payment's")
class AcceptForeignCallback(PaymentWorkflow):
    def _take(self, confirmation: ProviderConfirmation) -> None:
        own, self._charge_id = self._charge_id, None
        super()._take(confirmation)
        self._charge_id = own


# -- fraud -------------------------------------------------------------------------------------


@_mutant("ignore-fraud-rejection", "a fraud rejection is taken as a pass")
class IgnoreFraudRejection(PaymentWorkflow):
    async def _fraud_branch(self) -> None:
        await super()._fraud_branch()
        if self._fraud is not None and not self._fraud.passed:
            self._fraud = FraudVerdict(True, self._fraud.score, [])


@_mutant("fraud-fail-open", "a fraud check that errors or times out is taken as a pass")
class FraudFailOpen(PaymentWorkflow):
    async def _fraud_branch(self) -> None:
        await super()._fraud_branch()
        if self._fraud_error and not self._fraud_cancelled:
            self._fraud_error = False
            self._fraud = FraudVerdict(True, 0.0, [])


# -- the outcome (judged by the reference model, chaos.verdicts.oracle)


@_mutant("accept-foreign-success", "a succeeded callback for another charge is taken as this one's")
class AcceptForeignSuccess(PaymentWorkflow):
    def _take(self, confirmation: ProviderConfirmation) -> None:
        if confirmation.status != "succeeded":
            super()._take(confirmation)
            return
        own, self._charge_id = self._charge_id, None
        super()._take(confirmation)
        self._charge_id = own


@_mutant("slow-callback-timer", "the callback timer waits twice callback_timeout_s")
class SlowCallbackTimer(PaymentWorkflow):
    async def _forward(self, compensations: Compensations) -> Decision:
        options = self._request.options
        slow = dataclasses.replace(options, callback_timeout_s=2 * options.callback_timeout_s)
        self._request = dataclasses.replace(self._request, options=slow)
        return await super()._forward(compensations)


@_mutant("timeout-read-as-cancel", "a callback timeout ends the payment cancelled")
class TimeoutReadAsCancel(PaymentWorkflow):
    def _decision(self) -> Decision | None:
        decision = super()._decision()
        if decision == (PaymentState.FAILED, Reason.CALLBACK_TIMEOUT):
            return PaymentState.CANCELLED, Reason.CANCEL_REQUESTED
        return decision


@_mutant("notice-wrong-channel", "every notice goes by sms, a success's too")
class NoticeWrongChannel(PaymentWorkflow):
    async def _send(
        self, notice: NotificationRequest, retry: RetryPolicy, give_up: timedelta | None = None
    ) -> None:
        await super()._send(dataclasses.replace(notice, channel="sms"), retry, give_up)


@_mutant(
    "drop-delayed-notice",
    "a notice that failed its first three attempts is dropped (the saga before durable-notice)",
)
class DropDelayedNotice(PaymentWorkflow):
    def _patched(self, patch_id: str) -> bool:
        return patch_id != DURABLE_NOTICE_PATCH and super()._patched(patch_id)


@_mutant(
    "no-channel-fallback",
    "a notice whose channel the notification service refuses is dropped, not sent by the other"
    " channel (the saga before notice-channel-fallback)",
)
class NoChannelFallback(PaymentWorkflow):
    def _patched(self, patch_id: str) -> bool:
        return patch_id != NOTICE_FALLBACK_PATCH and super()._patched(patch_id)


@_mutant(
    "velocity-off-by-one",
    "the velocity limit refuses one payment too many",
    ledger=VelocityOffByOneLedger,
)
class VelocityOffByOne(PaymentWorkflow):
    pass


@_mutant(
    "worker-clock",
    "the ledger judges the velocity window and stamps entries by the account worker's own clock,"
    " not the database's: workers whose clocks disagree let payments through the limit",
    ledger=WorkerClockLedger,
)
class WorkerClock(PaymentWorkflow):
    pass


@_mutant(
    "forget-started-requests",
    "the API's request log forgets that a payment's saga was started: a key retried once the"
    " execution was deleted starts a second saga under the same id (the API before its log)",
    request_log=ForgetfulRequestLog,
)
class ForgetStartedRequests(PaymentWorkflow):
    pass


@_mutant("refuse-wallets", "wallet payments fail provider_unavailable without trying the provider")
class RefuseWallets(PaymentWorkflow):
    async def _charge_branch(self) -> None:
        if self._request.payment_method == "wallet":
            self._charge_error = Reason.PROVIDER_UNAVAILABLE
            self._log("charge_failed", "wallets are not taken")
            return
        await super()._charge_branch()


@_mutant("abandon-compensation", "a compensation is abandoned after its first failed round")
class AbandonCompensation(PaymentWorkflow):
    async def _until_done(
        self,
        kind: Compensation,
        call: Callable[[], Awaitable[T]],
        final_errors: frozenset[str] = frozenset(),
    ) -> T:
        try:
            return await call()
        except ActivityError as err:
            self._log(f"compensation_failed:{kind.value}", f"abandoned: {err.cause}")
            raise


def mutant_named(name: str) -> Mutant:
    """A mutant by name; a clear error for an unknown one."""
    try:
        return MUTANTS[name]
    except KeyError:
        raise KeyError(
            f"unknown mutant {name!r} (expected one of {', '.join(sorted(MUTANTS))})"
        ) from None
