"""PaymentWorkflow: the payment saga (task queue ``payments``).

validate -> debit -> (fraud child || charge with retries -> wait for the provider's signal under
a timer) -> succeed, or compensate in reverse (void, cancel fraud check, refund) and fail, or
compensate and end cancelled on the ``cancel`` signal. Every terminal state notifies the user.

Every path ends terminal, compensated and notified, with the execution closed COMPLETED: the
``cancel`` signal, a Temporal cancel (``temporal workflow cancel``) at any step, retries exhausted
at any step, business refusals and unexpected errors. A Temporal cancel becomes the same cancel
request as the signal. The debit is awaited shielded, so it has committed or failed before any
compensation runs; the charge is cancelled with ``WAIT_CANCELLATION_COMPLETED``, so an attempt in
flight settles before the void. Compensations retry without end, in rounds; a round that fails
is surfaced (timeline, ``compensations_retrying`` in the status, a metric). A charge the provider
captured cannot be voided: the debit then stays and the payment ends ``failed`` with reason
``refund_requires_review``. Only ``temporal workflow terminate`` (or a timeout) bypasses all this;
the reconciler (:mod:`orchestrator.workflows.reconcile`) repairs what such an execution left.

Determinism: this module does no I/O and reads no clock or randomness except through
``workflow.*``. The parallel phase is a state machine: the charge and fraud branches record facts
on ``self``; :meth:`PaymentWorkflow._decision` derives the outcome from those facts, so signals,
timers and branch results may arrive in any order and replay reaches the same decision.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    ChildWorkflowError,
    RetryState,
    is_cancelled_exception,
)
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    from orchestrator.activities.accounts import AccountActivities
    from orchestrator.activities.notifications import CHANNEL_REFUSED, NotificationActivities
    from orchestrator.activities.provider import DECLINED, VOID_REJECTED, ProviderActivities
    from orchestrator.models import (
        ACCOUNTS_QUEUE,
        FRAUD_QUEUE,
        NOTIFICATIONS_QUEUE,
        CancelRequest,
        ChargeRequest,
        Compensation,
        FraudCheckRequest,
        FraudVerdict,
        LedgerRequest,
        LedgerResult,
        NotificationRequest,
        PaymentChecks,
        PaymentOutcome,
        PaymentRequest,
        PaymentState,
        PaymentStatus,
        ProviderConfirmation,
        Reason,
        RetryOptions,
        TimelineEntry,
        ValidateRequest,
        VelocityRequest,
        VoidRequest,
    )
    from orchestrator.workflows import metrics
    from orchestrator.workflows.compensation import Compensations, shielded
    from orchestrator.workflows.fraud import FraudCheckWorkflow, LocalFraudCheckWorkflow

T = TypeVar("T")

PAYMENT_STATUS = SearchAttributeKey.for_keyword("PaymentStatus")
VELOCITY_CHECK_PATCH = "velocity-check"
#: The velocity limit is enforced by the debit itself, in one ledger transaction.
ATOMIC_VELOCITY_PATCH = "atomic-velocity"
#: The charge is cancelled with WAIT_CANCELLATION_COMPLETED: an attempt in flight settles first.
SETTLE_CHARGE_PATCH = "settle-charge"
#: A callback that arrives before the charge call returns is held until the charge id is known.
HOLD_EARLY_CALLBACKS_PATCH = "hold-early-callbacks"
#: Validation is part of the debit's transaction: one account call instead of two. A payment on
#: this path records this one patch marker and takes every earlier patch's path without asking
#: (each marker costs two history events: the marker and its TemporalChangeVersion upsert).
VALIDATED_DEBIT_PATCH = "validated-debit"
#: A debit the ledger refused keeps its refund: an earlier attempt of the same debit that timed
#: out may still commit, and the refund's tombstone refuses it (recorded on that path alone).
REFUND_ON_REFUSAL_PATCH = "refund-on-refusal"
#: The debit is awaited shielded from a Temporal cancel, which is acted on once it has committed.
#: The first builds (before atomic-velocity) let a cancel during the debit cancel the activity
#: and close the execution CANCELED; a payment on their path asks, at its debit, which it is.
#: Every payment on the atomic-velocity path (all since) shields without asking. Not in
#: PATCHES: the previous build (v1) shields too, as it always has.
SHIELDED_DEBIT_PATCH = "shielded-debit"
#: A notice that failed its first attempts is retried for hours (``notice_give_up_s``), not
#: dropped: asked only on that path, so a notice delivered at once records no marker.
DURABLE_NOTICE_PATCH = "durable-notice"
#: A notice whose channel the notification service refuses (``ChannelRefused``: the user has
#: no working phone, say) goes by the other channel, under the same notification id: asked
#: only on that path.
NOTICE_FALLBACK_PATCH = "notice-channel-fallback"
#: Every patch, oldest first (the previous build runs with none of them).
PATCHES = (
    VELOCITY_CHECK_PATCH,
    ATOMIC_VELOCITY_PATCH,
    SETTLE_CHARGE_PATCH,
    HOLD_EARLY_CALLBACKS_PATCH,
    VALIDATED_DEBIT_PATCH,
    REFUND_ON_REFUSAL_PATCH,
    DURABLE_NOTICE_PATCH,
    NOTICE_FALLBACK_PATCH,
)

#: The patches a payment on the validated-debit path has without recording their markers.
IMPLIED_BY_VALIDATED_DEBIT = frozenset(PATCHES[: PATCHES.index(VALIDATED_DEBIT_PATCH)])

ACCOUNT_CALL = timedelta(seconds=10)
# Compensations must eventually happen, whatever the outage: rounds of retries without end. A
# round that fails is surfaced (timeline, status, metric) before the next one starts.
COMPENSATION_ROUND = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=10,
)
COMPENSATION_PAUSE = timedelta(seconds=30)
PROVIDER_CALL = timedelta(seconds=15)
NOTIFY_CALL = timedelta(seconds=10)
NOTIFY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=4), maximum_attempts=3
)
#: After NOTIFY_RETRY's attempts: until ``notice_give_up_s``, at a pace an outage of hours costs
#: little (about 40 attempts over six hours).
NOTICE_PERSIST = RetryPolicy(
    initial_interval=timedelta(seconds=10),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=10),
)

Decision = tuple[PaymentState, Reason | None]

# A debit the ledger refuses (balance spent since validation, account gone, over the velocity
# limit, already compensated) moved no money.
LEDGER_REFUSALS = {
    "InsufficientFunds": Reason.INSUFFICIENT_FUNDS,
    "AccountNotFound": Reason.ACCOUNT_NOT_FOUND,
    "VelocityLimit": Reason.VELOCITY_LIMIT,
    "InvalidAmount": Reason.INVALID_AMOUNT,
    "PaymentCompensated": Reason.INTERNAL_ERROR,
    "PaymentSettled": Reason.PAYMENT_ID_REUSED,
}
#: A validated debit's refusal of the payment itself; the reason is the error's first detail.
PAYMENT_INVALID = "PaymentInvalid"
WORKFLOW_CANCEL = "workflow cancellation"
#: The timeline event of every Temporal cancel request the saga received (one per request).
TEMPORAL_CANCEL = "temporal_cancel"


def error_type(err: BaseException) -> str | None:
    """The ``ApplicationError`` type an activity or child failure carries (or the error is)."""
    cause = err.cause if isinstance(err, ActivityError | ChildWorkflowError) else err
    return cause.type if isinstance(cause, ApplicationError) else None


def _refused_channel(err: ActivityError) -> bool:
    """The notification service refused the notice's channel (not an outage)."""
    return error_type(err) == CHANNEL_REFUSED


def _error_details(err: ActivityError) -> tuple[object, ...]:
    cause = err.cause
    return tuple(cause.details) if isinstance(cause, ApplicationError) else ()


def retry_policy(options: RetryOptions) -> RetryPolicy:
    """The Temporal retry policy of a step's :class:`RetryOptions`."""
    return RetryPolicy(
        initial_interval=timedelta(seconds=options.initial_interval_s),
        backoff_coefficient=options.backoff_coefficient,
        maximum_interval=timedelta(seconds=options.maximum_interval_s),
        maximum_attempts=options.maximum_attempts,
    )


class _Stop(Exception):
    """Ends the forward path early with a decision (a step gave up)."""

    def __init__(self, state: PaymentState, reason: Reason) -> None:
        super().__init__(reason.value)
        self.decision: Decision = (state, reason)


@workflow.defn
class PaymentWorkflow:
    """One payment, from validation to a terminal state and the user's notification."""

    #: Patches this build does not have yet; only the previous build (workflows.builds) sets it.
    UNRELEASED_PATCHES: frozenset[str] = frozenset()

    @workflow.init
    def __init__(self, request: PaymentRequest) -> None:
        self._request = request
        self._state = PaymentState.PENDING
        self._step = "validate"
        self._reason: Reason | None = None
        self._attempts = 0
        self._charge_id: str | None = None
        self._charge_accepted_at: datetime | None = None
        self._charge_error: Reason | None = None
        self._confirmation: ProviderConfirmation | None = None
        self._seen_events: set[str] = set()
        self._held: list[ProviderConfirmation] = []
        self._callback_timed_out = False
        self._fraud: FraudVerdict | None = None
        self._fraud_error = False
        self._fraud_cancelled = False
        self._cancel: CancelRequest | None = None
        self._compensations: list[str] = []
        self._notification: str | None = None
        self._timeline: list[TimelineEntry] = []
        self._charge_task: asyncio.Task[None] | None = None
        self._fraud_task: asyncio.Task[None] | None = None
        self._unwinding = False
        # Set once the forward path ended: compensations and the notice change no outcome.
        self._decided = False
        self._needs_review = False
        self._retrying: list[str] = []
        # Decided at the first workflow task: the payment is on the validated-debit path.
        self._validated_debit = False
        # False on the first builds' path (no atomic-velocity, no shielded-debit marker): a
        # Temporal cancel during the debit closes the execution CANCELED, as it did then.
        self._shielded_debit = True

    # -- signals and query -------------------------------------------------------------------

    @workflow.signal
    def provider_confirmation(self, confirmation: ProviderConfirmation) -> None:
        """The provider's asynchronous answer; duplicates and late ones change nothing."""
        if confirmation.event_id in self._seen_events:
            self._log("callback_duplicate", confirmation.event_id)
            metrics.CALLBACKS_IGNORED.add(kind="duplicate")
            return
        self._seen_events.add(confirmation.event_id)
        if (
            self._charge_id is None
            and not self._state.terminal
            and self._patched(HOLD_EARLY_CALLBACKS_PATCH)
        ):
            # The charge call has not returned: whose charge this callback is for cannot be
            # told yet, so it is held until then (a foreign decline must not decide).
            self._held.append(confirmation)
            self._log("callback_held", f"{confirmation.status} for {confirmation.charge_id}")
            return
        self._take(confirmation)

    def _take(self, confirmation: ProviderConfirmation) -> None:
        """Act on a callback that is not a duplicate: it is mismatched, late, or the answer."""
        if self._charge_id is not None and confirmation.charge_id != self._charge_id:
            self._log("callback_mismatched", f"{confirmation.charge_id} is not {self._charge_id}")
            metrics.CALLBACKS_IGNORED.add(kind="mismatched")
            return
        if self._decided or self._confirmation is not None:
            self._log("callback_ignored", f"{confirmation.status} after decision")
            metrics.CALLBACKS_IGNORED.add(kind="late")
            return
        self._confirmation = confirmation
        self._log("callback_received", confirmation.status)
        self._observe_callback_wait(confirmation.status)

    @workflow.signal
    def cancel(self, request: CancelRequest) -> None:
        """Ask the saga to stop and compensate; ignored once the payment is terminal."""
        if self._state.terminal or self._cancel is not None:
            return
        self._cancel = request
        self._log("cancel_requested", request.reason)
        metrics.CANCELS.add(step=self._step)

    @workflow.query
    def status(self) -> PaymentStatus:
        """State, current step, attempts, fraud verdict, compensations and timeline."""
        r = self._request
        return PaymentStatus(
            payment_id=r.payment_id,
            user_id=r.user_id,
            amount=r.amount,
            currency=r.currency,
            payment_method=r.payment_method,
            state=self._state.value,
            step=self._step,
            provider_attempts=self._attempts,
            charge_id=self._charge_id,
            fraud=self._fraud,
            reason=self._reason.value if self._reason else None,
            compensations=list(self._compensations),
            notification=self._notification,
            timeline=list(self._timeline),
            compensations_retrying=list(self._retrying),
        )

    # -- the saga ----------------------------------------------------------------------------

    @workflow.run
    async def run(self, request: PaymentRequest) -> PaymentOutcome:
        """Run the saga to a terminal state."""
        self._log("started", f"{request.amount} {request.currency} by {request.payment_method}")
        compensations = Compensations()
        try:
            state, reason = await self._forward(compensations)
        except asyncio.CancelledError:
            # A Temporal cancel (`temporal workflow cancel`) ends like the cancel signal.
            state, reason = self._cancelled_by_temporal()
        except Exception as err:
            if not self._shielded_debit and is_cancelled_exception(err):
                raise  # the first builds closed the execution CANCELED here; the reconciler repairs
            state, reason = self._stopped_by(err)
        self._decided = True
        if state is not PaymentState.SUCCEEDED:
            await shielded(self._unwind(compensations), on_cancel=self._cancel_after_decision)
            if self._needs_review:
                state, reason = PaymentState.FAILED, Reason.REFUND_REQUIRES_REVIEW
        self._reason = reason
        self._set_state(state, "notify")
        self._log(state.value, reason.value if reason else "")
        await shielded(self._notify(), on_cancel=self._cancel_after_decision)
        self._step = "done"
        self._count_finished(state, reason)
        return PaymentOutcome(
            request.payment_id, state.value, self._reason, self._compensations, self.status()
        )

    def _cancelled_by_temporal(self) -> Decision:
        """A Temporal cancel before the decision: the same request as the ``cancel`` signal."""
        self._log(TEMPORAL_CANCEL, "acted on as a cancel request")
        if self._cancel is None:
            self.cancel(CancelRequest(WORKFLOW_CANCEL))
        return PaymentState.CANCELLED, Reason.CANCEL_REQUESTED

    def _cancel_after_decision(self) -> None:
        """A Temporal cancel after the decision: compensations and the notice run on."""
        self._log(TEMPORAL_CANCEL, "after the decision: compensations and notice run on")

    def _stopped_by(self, err: Exception) -> Decision:
        """The decision when the forward path raised instead of deciding."""
        if is_cancelled_exception(err):
            return self._cancelled_by_temporal()
        if isinstance(err, _Stop):
            return err.decision
        self._log("internal_error", f"{type(err).__name__}: {err}")
        return PaymentState.FAILED, Reason.INTERNAL_ERROR

    async def _account_step(self, call: Awaitable[T]) -> T:
        """An account step that moves no money; retries exhausted end the payment failed."""
        try:
            return await call
        except ActivityError as err:
            if is_cancelled_exception(err):
                raise
            self._log("accounts_unavailable", str(err.cause))
            raise _Stop(PaymentState.FAILED, Reason.ACCOUNTS_UNAVAILABLE) from err

    async def _forward(self, compensations: Compensations) -> Decision:
        r = self._request
        account_retry = retry_policy(r.options.account_retry)
        # Patches: payments started before each release replay without its marker and keep the
        # old path; see "Safe upgrades" in the README.
        self._validated_debit = self._patched(VALIDATED_DEBIT_PATCH)
        if not self._validated_debit:
            stop = await self._validate_apart(account_retry)
            if stop is not None:
                return stop
        atomic_velocity = self._patched(ATOMIC_VELOCITY_PATCH)
        if not atomic_velocity:
            self._shielded_debit = self._patched(SHIELDED_DEBIT_PATCH)

        self._set_state(PaymentState.PROCESSING, "debit")
        compensations.push(Compensation.REFUND, self._refund)
        velocity_limit = (
            (r.options.velocity_window_s, r.options.velocity_max_payments)
            if atomic_velocity
            else (0.0, 0)
        )
        try:
            # Shielded: a Temporal cancel must not abandon a debit that may still commit; the
            # refund registered above runs only once the debit has committed or failed.
            checks = (
                PaymentChecks(r.currency, r.payment_method, r.options.max_amount)
                if self._validated_debit
                else None
            )
            debit = await self._debit(
                LedgerRequest(r.payment_id, r.user_id, r.amount, *velocity_limit, checks),
                account_retry,
            )
        except ActivityError as err:
            if not self._shielded_debit and is_cancelled_exception(err):
                raise  # the first builds' unshielded debit: see run()
            if error_type(err) == PAYMENT_INVALID:
                self._refused(compensations)
                reason = Reason(str(_error_details(err)[0]))
                self._log("validation_failed", f"{reason.value}: {err.cause}")
                return PaymentState.FAILED, reason
            refusal = LEDGER_REFUSALS.get(error_type(err) or "")
            if refusal is None:
                # Retries ran out; the last attempt may have committed: the refund stays.
                self._log("debit_failed", str(err.cause))
                return PaymentState.FAILED, Reason.ACCOUNTS_UNAVAILABLE
            self._refused(compensations)
            event = "velocity_limit" if refusal is Reason.VELOCITY_LIMIT else "debit_refused"
            self._log(event, str(err.cause))
            return PaymentState.FAILED, refusal
        if self._validated_debit:
            self._log("validated", "in the debit's transaction")
        self._log("debited", f"balance after {debit.balance_after}")
        if self._cancel:
            return PaymentState.CANCELLED, Reason.CANCEL_REQUESTED

        self._step = "charge"
        compensations.push(Compensation.FRAUD_CHECK_CANCELLED, self._cancel_fraud_check)
        self._fraud_task = asyncio.create_task(self._fraud_branch())
        compensations.push(Compensation.VOID, self._void)
        self._charge_task = asyncio.create_task(self._charge_branch())
        await workflow.wait_condition(lambda: self._decision() is not None)
        decision = self._decision()
        assert decision is not None
        if decision[0] is PaymentState.SUCCEEDED:
            compensations.clear()
        elif self._charge_error is Reason.PROVIDER_DECLINED and self._charge_id is None:
            compensations.discard(Compensation.VOID)  # declined outright: nothing authorized
        return decision

    def _refused(self, compensations: Compensations) -> None:
        """The ledger refused the debit: this attempt took nothing, but an earlier attempt that
        timed out may still be running and commit later (a stalled database call). The refund
        stays registered: finding no debit, it leaves the tombstone that refuses that attempt
        (and reports nothing). Before ``refund-on-refusal`` the refund was dropped here."""
        if not self._patched(REFUND_ON_REFUSAL_PATCH):
            compensations.discard(Compensation.REFUND)

    async def _validate_apart(self, account_retry: RetryPolicy) -> Decision | None:
        """Builds before validated-debit: validation (and, before atomic-velocity, the velocity
        check) as calls of their own before the debit; a decision when one of them ends it."""
        r = self._request
        validation = await self._account_step(
            workflow.execute_activity_method(
                AccountActivities.validate_payment,
                ValidateRequest(
                    r.user_id, r.amount, r.currency, r.payment_method, r.options.max_amount
                ),
                task_queue=ACCOUNTS_QUEUE,
                start_to_close_timeout=ACCOUNT_CALL,
                retry_policy=account_retry,
            )
        )
        if not validation.valid:
            assert validation.reason is not None, "an invalid payment always has a reason"
            self._log("validation_failed", f"{validation.reason}: {validation.detail}")
            return PaymentState.FAILED, Reason(validation.reason)
        self._log("validated")
        if self._cancel:
            return PaymentState.CANCELLED, Reason.CANCEL_REQUESTED
        # The velocity check was first a separate call (racy under concurrency), then part of
        # the debit's transaction.
        if not self._patched(ATOMIC_VELOCITY_PATCH) and self._patched(VELOCITY_CHECK_PATCH):
            # Only a build before atomic-velocity took this path: a cancel here escapes too.
            self._shielded_debit = False
            velocity = await self._account_step(
                workflow.execute_activity_method(
                    AccountActivities.check_velocity,
                    VelocityRequest(
                        r.payment_id,
                        r.user_id,
                        r.options.velocity_window_s,
                        r.options.velocity_max_payments,
                    ),
                    task_queue=ACCOUNTS_QUEUE,
                    start_to_close_timeout=ACCOUNT_CALL,
                    retry_policy=account_retry,
                )
            )
            if not velocity.valid:
                self._log("velocity_limit", velocity.detail)
                return PaymentState.FAILED, Reason.VELOCITY_LIMIT
            self._log("velocity_checked")
            if self._cancel:
                return PaymentState.CANCELLED, Reason.CANCEL_REQUESTED
        return None

    def _debit(self, request: LedgerRequest, retry: RetryPolicy) -> Awaitable[LedgerResult]:
        """The debit, shielded: it runs on to its end and a cancel is acted on right after
        (unshielded on the first builds' path: see ``SHIELDED_DEBIT_PATCH``)."""
        debit = workflow.execute_activity_method(
            AccountActivities.debit_account,
            request,
            task_queue=ACCOUNTS_QUEUE,
            start_to_close_timeout=ACCOUNT_CALL,
            retry_policy=retry,
        )
        if not self._shielded_debit:
            return debit
        return shielded(debit, on_cancel=self._cancelled_by_temporal)

    def _decision(self) -> Decision | None:
        """The outcome the facts gathered so far imply, or None while it is still open."""
        if self._cancel:
            return PaymentState.CANCELLED, Reason.CANCEL_REQUESTED
        if self._charge_error:
            return PaymentState.FAILED, self._charge_error
        if self._confirmation and self._confirmation.status != "succeeded":
            return PaymentState.FAILED, Reason.PROVIDER_DECLINED
        if self._fraud_error:
            return PaymentState.FAILED, Reason.FRAUD_CHECK_FAILED
        if self._fraud and not self._fraud.passed:
            return PaymentState.FAILED, Reason.FRAUD_REJECTED
        if self._callback_timed_out:
            return PaymentState.FAILED, Reason.CALLBACK_TIMEOUT
        if self._charge_id and self._confirmation and self._fraud:
            return PaymentState.SUCCEEDED, None
        return None

    async def _charge_branch(self) -> None:
        r = self._request
        # An attempt in flight when the saga unwinds must settle before the void, or a strict
        # provider (no void-before-charge tombstones) would authorize it after the void.
        cancellation = (
            ActivityCancellationType.WAIT_CANCELLATION_COMPLETED
            if self._patched(SETTLE_CHARGE_PATCH)
            else ActivityCancellationType.TRY_CANCEL
        )
        try:
            charge = await workflow.execute_activity_method(
                ProviderActivities.charge_payment,
                ChargeRequest(r.payment_id, r.user_id, r.amount, r.currency, r.payment_method),
                start_to_close_timeout=PROVIDER_CALL,
                retry_policy=retry_policy(r.options.charge_retry),
                cancellation_type=cancellation,
            )
        except ActivityError as err:
            if is_cancelled_exception(err):
                self._log("charge_cancelled", "the saga is unwinding")
                return
            self._attempts = self._attempts_of(err)
            declined = error_type(err) == DECLINED
            self._charge_error = (
                Reason.PROVIDER_DECLINED if declined else Reason.PROVIDER_UNAVAILABLE
            )
            self._log("charge_failed", f"after {self._attempts} attempt(s): {err.cause}")
            return
        except Exception as err:
            # Any other error (a result that does not decode) is a fact too: the saga decides,
            # and the void registered before the charge covers whatever the provider took.
            self._charge_error = Reason.PROVIDER_UNAVAILABLE
            self._log("charge_failed", f"{type(err).__name__}: {err}")
            return
        self._attempts = charge.attempt
        self._charge_id = charge.charge_id
        if self._unwinding:
            self._log("charge_settled", f"{charge.charge_id} while unwinding: it will be voided")
            return
        if self._confirmation is not None and self._confirmation.charge_id != charge.charge_id:
            # Builds before hold-early-callbacks: it arrived before the charge call returned and
            # turned out to be for another charge.
            self._log("callback_mismatched", f"{self._confirmation.charge_id} is not ours")
            metrics.CALLBACKS_IGNORED.add(kind="mismatched")
            self._confirmation = None
        self._charge_accepted_at = workflow.now()
        self._step = "await_confirmation"
        self._log("charge_accepted", f"{charge.charge_id} after {charge.attempt} attempt(s)")
        held, self._held = self._held, []
        for confirmation in held:
            self._take(confirmation)
        try:
            await workflow.wait_condition(
                lambda: self._confirmation is not None,
                timeout=timedelta(seconds=r.options.callback_timeout_s),
                timeout_summary="provider callback timer",
            )
        except TimeoutError:
            self._callback_timed_out = True
            self._observe_callback_wait("timeout")
            metrics.CALLBACK_TIMER_EXPIRATIONS.add()
            self._log("callback_timeout", f"no callback in {r.options.callback_timeout_s:g}s")
            return
        if self._fraud is None:
            self._step = "await_fraud"

    def _attempts_of(self, err: ActivityError) -> int:
        cause = err.cause
        if isinstance(cause, ApplicationError) and cause.details:
            return int(cause.details[0])
        if err.retry_state is RetryState.MAXIMUM_ATTEMPTS_REACHED:
            return self._request.options.charge_retry.maximum_attempts
        return max(self._attempts, 1)

    async def _fraud_branch(self) -> None:
        r = self._request
        try:
            # The child's type is part of the start command: payments on the validated-debit
            # path start the cheaper one, those started before keep the one they had.
            child = LocalFraudCheckWorkflow.run if self._validated_debit else FraudCheckWorkflow.run
            self._fraud = await workflow.execute_child_workflow(
                child,
                FraudCheckRequest(r.payment_id, r.user_id, r.amount, r.payment_method),
                id=f"{r.payment_id}-fraud",
                task_queue=FRAUD_QUEUE,
                execution_timeout=timedelta(seconds=r.options.fraud_timeout_s),
            )
        except Exception as err:
            # Any error is a fact, not only the child's own failure: a child that cannot start
            # (its id taken: WorkflowAlreadyStartedError) must still let the saga decide.
            self._fraud_error = True
            self._fraud_cancelled = is_cancelled_exception(err)
            cause = err.cause if isinstance(err, ChildWorkflowError) else err
            self._log("fraud_check_failed", f"{type(cause).__name__}: {cause}")
            return
        verdict = "pass" if self._fraud.passed else "fail"
        self._log("fraud_verdict", f"{verdict} (score {self._fraud.score:.2f})")

    # -- compensations -----------------------------------------------------------------------

    async def _unwind(self, compensations: Compensations) -> None:
        self._step = "compensate"
        self._unwinding = True
        if self._charge_task and not self._charge_task.done():
            self._charge_task.cancel()  # stop retrying the charge / waiting for the callback
            await workflow.wait([self._charge_task])

        def record(kind: Compensation, effect: str | None, error: str | None) -> None:
            if error:
                self._log(f"compensation_failed:{kind.value}", error)
                metrics.COMPENSATION_FAILURES.add(kind=kind.value)
            elif effect:
                self._compensations.append(kind.value)
                self._log(f"compensated:{kind.value}", effect)
                metrics.COMPENSATIONS.add(kind=kind.value)

        await compensations.unwind(record)

    async def _until_done(
        self,
        kind: Compensation,
        call: Callable[[], Awaitable[T]],
        final_errors: frozenset[str] = frozenset(),
    ) -> T:
        """Run a compensation in rounds of retries until it succeeds; each failed round shows.

        An error whose type is in ``final_errors`` can never succeed: it is raised at once.
        """
        rounds = 0
        while True:
            try:
                result = await call()
            except ActivityError as err:
                if error_type(err) in final_errors:
                    raise
                rounds += 1
                if kind.value not in self._retrying:
                    self._retrying.append(kind.value)
                self._log(f"compensation_retrying:{kind.value}", f"round {rounds}: {err.cause}")
                metrics.COMPENSATION_FAILURES.add(kind=kind.value)
                await workflow.sleep(COMPENSATION_PAUSE * min(rounds, 10))
                continue
            if kind.value in self._retrying:
                self._retrying.remove(kind.value)
            return result

    @property
    def _round_limit(self) -> timedelta:
        """One compensation round's bound: a round whose worker is absent fails and shows."""
        return timedelta(seconds=self._request.options.compensation_round_s)

    async def _void(self) -> str | None:
        try:
            result = await self._until_done(
                Compensation.VOID,
                lambda: workflow.execute_activity_method(
                    ProviderActivities.void_charge,
                    VoidRequest(self._request.payment_id),
                    start_to_close_timeout=PROVIDER_CALL,
                    schedule_to_close_timeout=self._round_limit,
                    retry_policy=COMPENSATION_ROUND,
                ),
                final_errors=frozenset({VOID_REJECTED}),
            )
        except ActivityError as err:
            # Captured: the money reached the merchant and only a person can give it back.
            self._needs_review = True
            self._log("void_rejected", f"{err.cause}; the debit stays until reviewed")
            metrics.COMPENSATION_FAILURES.add(kind=Compensation.VOID.value)
            return None
        return "charge voided at provider" if result.voided else None

    async def _cancel_fraud_check(self) -> str | None:
        task = self._fraud_task
        if task is None or task.done():
            return None
        task.cancel()
        await workflow.wait([task])
        if not self._fraud_cancelled:
            # The verdict won the race, or the child had not started: nothing was cancelled.
            self._log("fraud_check_not_cancelled", "it had ended, or never started")
            return None
        return "fraud check child cancelled"

    async def _refund(self) -> str | None:
        r = self._request
        if self._needs_review:
            self._log("refund_withheld", "the provider kept the charge: refund after review")
            return None
        result = await self._until_done(
            Compensation.REFUND,
            lambda: workflow.execute_activity_method(
                AccountActivities.refund_account,
                LedgerRequest(r.payment_id, r.user_id, r.amount),
                task_queue=ACCOUNTS_QUEUE,
                start_to_close_timeout=ACCOUNT_CALL,
                schedule_to_close_timeout=self._round_limit,
                retry_policy=COMPENSATION_ROUND,
            ),
        )
        return f"refunded {result.amount}" if result.amount else None

    # -- notification and bookkeeping --------------------------------------------------------

    async def _notify(self) -> None:
        # workflow.uuid4() is recorded in history, so a replay sends the same notification id.
        notification_id = str(workflow.uuid4())
        channel = "email" if self._state is PaymentState.SUCCEEDED else "sms"
        refused = await self._deliver(self._notice(notification_id, channel))
        if refused and self._patched(NOTICE_FALLBACK_PATCH):
            other = "sms" if channel == "email" else "email"
            self._log("notice_channel_refused", f"{channel} refused: sending by {other}")
            await self._deliver(self._notice(notification_id, other))

    def _notice(self, notification_id: str, channel: str) -> NotificationRequest:
        r = self._request
        return NotificationRequest(
            notification_id,
            r.payment_id,
            r.user_id,
            channel,
            self._state.value,
            self._reason.value if self._reason else None,
        )

    async def _deliver(self, notice: NotificationRequest) -> bool:
        """Send ``notice``, retrying for hours on the durable-notice path; records the outcome.
        True when the service refused its channel (another channel may do)."""
        notification_id, channel = notice.notification_id, notice.channel
        try:
            await self._send(notice, NOTIFY_RETRY)
        except ActivityError as err:
            # A notification outage never changes the payment's outcome.
            if _refused_channel(err) or not self._patched(DURABLE_NOTICE_PATCH):
                self._notification = f"failed:{notification_id}"
                self._log("notification_failed", str(err.cause))
                return _refused_channel(err)
            self._notification = f"retrying:{notification_id}"
            self._log("notification_delayed", str(err.cause))
            metrics.NOTICES_DELAYED.add(channel=channel)
            give_up = timedelta(seconds=self._request.options.notice_give_up_s)
            try:
                await self._send(notice, NOTICE_PERSIST, give_up)
            except ActivityError as final:
                self._notification = f"failed:{notification_id}"
                self._log("notification_failed", str(final.cause))
                metrics.NOTICES_DROPPED.add(channel=channel)
                return _refused_channel(final)
        self._notification = f"sent:{notification_id}"
        self._log("notified", channel)
        return False

    async def _send(
        self, notice: NotificationRequest, retry: RetryPolicy, give_up: timedelta | None = None
    ) -> None:
        """One notice through the notification service (its id makes every attempt one
        message), retried by ``retry``, until ``give_up`` if given."""
        await workflow.execute_activity_method(
            NotificationActivities.send_notification,
            notice,
            task_queue=NOTIFICATIONS_QUEUE,
            start_to_close_timeout=NOTIFY_CALL,
            schedule_to_close_timeout=give_up,
            retry_policy=retry,
        )

    def _observe_callback_wait(self, result: str) -> None:
        if self._charge_accepted_at is not None:
            metrics.CALLBACK_WAIT.record(workflow.now() - self._charge_accepted_at, result=result)

    def _count_finished(self, state: PaymentState, reason: Reason | None) -> None:
        metrics.PAYMENTS_FINISHED.add(
            outcome=state.value,
            method=self._request.payment_method,
            reason=reason.value if reason else "none",
        )
        metrics.SAGA_DURATION.record(metrics.since_start(), outcome=state.value)

    def _patched(self, patch_id: str) -> bool:
        if patch_id in self.UNRELEASED_PATCHES:
            return False
        if self._validated_debit and patch_id in IMPLIED_BY_VALIDATED_DEBIT:
            return True
        return workflow.patched(patch_id)

    def _set_state(self, state: PaymentState, step: str) -> None:
        self._state = state
        self._step = step
        workflow.upsert_search_attributes([PAYMENT_STATUS.value_set(state.value)])

    def _log(self, event: str, detail: str = "") -> None:
        self._timeline.append(TimelineEntry(workflow.now().isoformat(), event, detail))
