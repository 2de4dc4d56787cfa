"""One schedule in virtual time: the real saga on the kernel, the services as models.

- Accounts: the real :class:`~orchestrator.ledger.Ledger` (SQLite, on a file in memory-backed
  temp space) stamped with the virtual clock, its refusals mapped to the errors the real
  account activities raise (:func:`orchestrator.activities.accounts.ledger_refusal`).
- Provider: the provider simulator's rules (``simulators/provider.py``): one charge per
  idempotency key (the payment id), 402 for a decline, a void of an unknown key leaves a
  tombstone that refuses a later charge (lenient) or nothing (strict), a capture cannot be
  voided (409, ``VoidRejected``) but can be refunded; an attempt the plan makes late is
  processed after its worker gave up (``charge_late_s``); callbacks as the plan says.
- Fraud and notifications: the plan's verdict; an outbox keyed by notification id, holding the
  message the real activity sends.
- The reconciler (:class:`~orchestrator.workflows.reconcile.ReconcileWorkflow`, the real one)
  runs after every termination and at the end, over the same models.

The schedule's evidence is the :class:`~chaos.verdicts.bundle.Bundle` a run on the real stack
gathers and goes through the same pure checkers (:func:`chaos.verdicts.checkers.check_all`).
"""

from __future__ import annotations

import random
import typing
from collections.abc import Callable, Collection
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import msgspec
from temporalio.exceptions import ApplicationError

from chaos.explore.virtual.kernel import CONVERTER, EPOCH, ActivityCall, Attempt, Kernel
from chaos.explore.virtual.kernel import Execution as KernelExecution
from chaos.explore.virtual.schedule import PaymentPlan, Schedule, healthy
from chaos.run.workload import TERMINAL
from chaos.verdicts.bundle import (
    Bundle,
    Callback,
    Execution,
    LedgerEntry,
    LedgerRepair,
    Payment,
    refused_channels,
)
from chaos.verdicts.checkers import REVIEW, check_all, payment_rows
from chaos.verdicts.findings import Check, Counterexample
from orchestrator.activities.accounts import AccountActivities, ledger_refusal
from orchestrator.activities.fraud import FraudActivities
from orchestrator.activities.http import TRANSIENT
from orchestrator.activities.notifications import (
    CHANNEL_REFUSED,
    NotificationActivities,
    notification_message,
)
from orchestrator.activities.provider import (
    DECLINED,
    REFUND_REJECTED,
    VOID_REJECTED,
    ProviderActivities,
)
from orchestrator.activities.reconcile import ReconcileActivities
from orchestrator.api.request_log import RequestLog
from orchestrator.errors import LedgerError, VelocityLimitExceeded
from orchestrator.ledger import LOCK_WAIT_S, Ledger
from orchestrator.models import (
    DEFAULT_ACCOUNT_RETRY,
    CancelRequest,
    ChargeRefundRequest,
    ChargeRefundResult,
    ChargeRequest,
    ChargeResult,
    ExecutionFacts,
    FraudCheckRequest,
    FraudVerdict,
    LedgerRequest,
    LedgerResult,
    NotificationRequest,
    NotificationResult,
    PaymentRequest,
    PaymentStatus,
    ProviderCharge,
    ProviderConfirmation,
    ReconcileReport,
    ReconcileRequest,
    RepairRequest,
    RepairResult,
    RetryOptions,
    SagaOptions,
    ValidateRequest,
    VelocityRequest,
    VoidRequest,
    VoidResult,
)
from orchestrator.workflows.fraud import (
    SCORING_TIMEOUT,
    FraudCheckWorkflow,
    LocalFraudCheckWorkflow,
)
from orchestrator.workflows.payment import PaymentWorkflow
from orchestrator.workflows.reconcile import UNDECIDED, ReconcileWorkflow
from simulators.provider_rules import Charge, Provider, Refused

#: Second copy of a duplicated callback, as the provider simulator spaces them.
REDELIVERY_GAP_S = 1.1
#: A late callback arrives just after the 5-minute callback timer fired, while the saga unwinds.
LATE_AFTER_TIMER_S = 300.0
#: Share of workflow tasks after which the instance is evicted and rebuilt by replay.
EVICT_SHARE = 0.1
#: Share of workflow tasks whose worker dies mid-activation (drawn from its own stream).
CRASH_SHARE = 0.02
#: The reconciler's last pass, after every saga has had time to finish.
FINAL_RECONCILE_S = 6 * 3600.0
#: How long after a payment starts its completed execution is deleted and its request retried
#: (past the callback timer and the compensations of most schedules).
RETRY_AFTER_S = 1800.0
FOREIGN_EVENT = "evt_foreign_"
RECONCILER_HONEST = "reconciler repaired only what no saga could"
TERMINATED_TOLD = "terminated payments told their outcome"
DECLINES_FINAL = "declines final (the provider was not asked again)"
FRAUD_HONOURED = "fraud rejections honoured"


def _types(*classes: type) -> dict[str, list[type]]:
    """Each activity's parameter types, read from the real activity classes."""
    found: dict[str, list[type]] = {}
    for cls in classes:
        for name, method in vars(cls).items():
            if hasattr(method, "__temporal_activity_definition"):
                hints = typing.get_type_hints(method)
                found[name] = [t for p, t in hints.items() if p != "return"]
    return found


ACTIVITY_TYPES = _types(
    AccountActivities,
    ProviderActivities,
    FraudActivities,
    NotificationActivities,
    ReconcileActivities,
)


def payment_ids(schedule: Schedule) -> list[str]:
    """The workflow ids of a schedule's payments."""
    return [f"v{schedule.seed}-{i}" for i in range(len(schedule.payments))]


def user_of(schedule: Schedule) -> str:
    """The schedule's one user."""
    return f"u{schedule.seed}"


@dataclass
class ScheduleResult:
    """One schedule's verdict: the checks that failed, the evidence, and what was reached."""

    schedule: Schedule
    failed: list[Check]
    bundle: Bundle
    interrupted: set[str]
    """Payments the world interrupted with their named step in flight."""
    activations: int
    virtual_s: float
    late_charged: set[str] = field(default_factory=set)
    """Payments whose charge the provider made after their worker gave up on it."""
    evicted: set[str] = field(default_factory=set)
    """Payments whose instance was evicted mid-flight and rebuilt by replaying its history."""
    mixed: dict[str, set[tuple[str, ...]]] = field(default_factory=dict)
    """Per payment, the kinds of job that came together in one of its activations."""
    crashed: set[str] = field(default_factory=set)
    """Payments one of whose workflow tasks died with its worker mid-activation."""
    clocks_split: bool = False
    """Account workers whose clocks disagree decided the debits (committed or refused by the
    velocity limit) of two payments of the user, under a limit those payments could reach."""
    replayed: set[str] = field(default_factory=set)
    """Payments deleted once completed whose retried request the API answered as the payment."""

    @property
    def ok(self) -> bool:
        """No checker found a problem."""
        return not self.failed


@dataclass
class World:
    """The services of one schedule, and the kernel that runs its payments."""

    schedule: Schedule
    ledger: Ledger
    """A fresh ledger for this schedule alone (the reconciler reads all of it)."""
    payment_workflow: type = PaymentWorkflow
    requests: RequestLog | None = None
    """The API's request log (the real one, on a file of this schedule's), where the schedule
    retries a payment's request after deleting its execution; None: every request is new."""
    kernel: Kernel = field(init=False)
    plans: dict[str, PaymentPlan] = field(init=False)
    provider: Provider = field(default_factory=Provider)
    """The provider's charges and tombstones: the HTTP simulator's own rules
    (:mod:`simulators.provider_rules`), in virtual time."""
    outbox: dict[str, dict[str, Any]] = field(default_factory=dict)
    refused: list[dict[str, str]] = field(default_factory=list)
    """Notices the notification service refused for their channel, as it records them."""
    interrupted: set[str] = field(default_factory=set)
    terminated: set[str] = field(default_factory=set)
    _aimed: set[str] = field(default_factory=set)
    _reconciles: int = 0
    _refund_tries: dict[str, int] = field(default_factory=dict)
    _notice_tries: dict[str, int] = field(default_factory=dict)
    _declines_heard: set[str] = field(default_factory=set)
    asked_after_decline: set[str] = field(default_factory=set)
    """Payments whose charge the provider was asked for again after the saga heard its 402."""
    fraud_rejected: set[str] = field(default_factory=set)
    """Payments the fraud service answered with a rejection."""
    late_charged: set[str] = field(default_factory=set)
    """Payments whose charge attempt the provider processes after its worker gave up."""
    debit_workers: dict[str, int] = field(default_factory=dict)
    """Per payment, the account worker whose debit committed or was refused by the velocity
    limit (an index into the schedule's ``account_clocks_s``)."""
    debited_at: dict[str, datetime] = field(default_factory=dict)
    """Per payment, when (true time) its debit committed."""
    deleted: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Payments whose completed execution was deleted (their request then retried), with the
    status the API showed before the delete."""
    replayed: set[str] = field(default_factory=set)
    """Payments whose retried request the API answered as the payment, starting nothing."""
    _account_calls: int = 0
    _worker: int = 0
    """The account worker running the ledger call in progress."""
    _worker_clocks: list[Callable[[], datetime]] = field(init=False)
    """Each account worker's own clock (the virtual clock plus its skew)."""

    def __post_init__(self) -> None:
        self.kernel = Kernel(
            [self.payment_workflow, LocalFraudCheckWorkflow, FraudCheckWorkflow, ReconcileWorkflow],
            self._attempt,
            ACTIVITY_TYPES,
        )
        self.kernel.on_activity_start.append(self._aim)
        # Workers lose their cache (a restart, an eviction): after a share of the workflow tasks,
        # drawn from the schedule's seed, the instance is rebuilt by replaying its activations.
        evictions = random.Random(f"{self.schedule.seed}:evict")
        self.kernel.evict = lambda _: evictions.random() < EVICT_SHARE
        crashes = random.Random(f"{self.schedule.seed}:crash")
        self.kernel.crash = lambda _: crashes.random() < CRASH_SHARE
        self.ledger.clock = self.kernel.datetime
        self.ledger.host_clock = self.kernel.datetime
        self._worker_clocks = [
            partial(_skewed, self.kernel, timedelta(seconds=skew))
            for skew in self.schedule.account_clocks_s or [0.0]
        ]
        self.plans = dict(zip(payment_ids(self.schedule), self.schedule.payments, strict=True))

    # -- running -------------------------------------------------------------------------------

    def run(self) -> ScheduleResult:
        """Make the payments, run virtual time out, and judge the evidence."""
        schedule = self.schedule
        user = user_of(schedule)
        self.ledger.open_account(user, schedule.balance)
        options = SagaOptions(
            velocity_max_payments=schedule.velocity_max_payments,
            account_retry=replace(
                DEFAULT_ACCOUNT_RETRY, maximum_attempts=schedule.account_attempts
            ),
            charge_retry=RetryOptions(maximum_attempts=schedule.charge_attempts),
        )
        for payment_id, plan in self.plans.items():
            request = PaymentRequest(payment_id, user, plan.amount, "USD", plan.method, options)
            self.kernel.at(plan.start_s, partial(self._pay, request))
            if plan.deleted_then_retried:
                self.kernel.at(
                    plan.start_s + RETRY_AFTER_S, partial(self._delete_and_retry, request)
                )
        for at in schedule.reconcile_at_s:
            self.kernel.at(at, self._reconcile)
        self.kernel.at(FINAL_RECONCILE_S, self._reconcile)
        # The schedule's next passes: a payment repaired by the last one is settled (and, ended
        # undecided, notified) by these.
        for later in (60.0, 120.0, 180.0):  # repaired, then 2 notice tries a pass: past 4 fails
            self.kernel.at(FINAL_RECONCILE_S + later, self._follow_up)
        self.kernel.run()
        return self._judge()

    def _pay(self, request: PaymentRequest) -> None:
        """``POST /payments`` below HTTP: the API's request log decides first (a payment whose
        saga was started is a replay), then Temporal's duplicate check (REJECT_DUPLICATE)."""
        payment_id = request.payment_id
        fingerprint = f"{request.amount}:{request.currency}:{request.payment_method}"
        log = self.requests
        if log is not None and log.claim(payment_id, request.user_id, fingerprint).started:
            self.replayed.add(payment_id)
            return
        if payment_id not in self.kernel.executions:
            self.kernel.start_workflow("PaymentWorkflow", payment_id, [request])
        if log is not None:
            log.mark_started(payment_id)

    def _delete_and_retry(self, request: PaymentRequest) -> None:
        """Once the payment's saga completed: delete its execution, as retention does, and
        retry its request with the same key (an hour later while it is still open)."""
        payment_id = request.payment_id
        execution = self.kernel.executions.get(payment_id)
        if execution is None or execution.status != "COMPLETED":
            if execution is not None and execution.closed_at is None:
                later = self.kernel.now + RETRY_AFTER_S
                if later < FINAL_RECONCILE_S:
                    self.kernel.at(later, partial(self._delete_and_retry, request))
            return  # a terminated or failed execution is the reconciler's, not retention's
        try:
            status = msgspec.to_builtins(self.kernel.query(payment_id, "status", PaymentStatus))
        except Exception:  # a stuck instance may not answer; the checkers see an empty status
            status = {}
        self.deleted[payment_id] = status
        self.kernel.delete(payment_id)
        self._pay(request)

    def _follow_up(self) -> None:
        """The schedule's next pass, if the last one left work for it (repairs made, failed, or
        payments watched): the every-minute schedule's, without the passes that find nothing."""
        last = self.kernel.executions.get(f"reconcile-{self._reconciles}")
        if last is not None and last.result is not None:
            (report,) = CONVERTER.payload_converter.from_payloads([last.result], [ReconcileReport])
            if not (report.planned or report.failed or report.watching):
                return
        self._reconcile()

    def _reconcile(self) -> None:
        self._reconciles += 1
        self.kernel.start_workflow(
            "ReconcileWorkflow", f"reconcile-{self._reconciles}", [ReconcileRequest()]
        )

    # -- interrupts ------------------------------------------------------------------------------

    def _aim(self, activity: Any, attempt: Attempt) -> None:
        """Aim a payment's interrupt at its named step, while that step is in flight."""
        payment_id = activity.execution.workflow_id.removesuffix("-fraud")
        plan = self.plans.get(payment_id)
        step = activity.command.activity_type
        if plan is None or plan.interrupt == "none" or payment_id in self._aimed:
            return
        span = attempt.duration_s + attempt.report_after_s
        if step == "charge_payment" and plan.interrupt_at == "await_confirmation":
            self._aimed.add(payment_id)
            wait = max(plan.latency_s, 0.01) * 2
            self.kernel.at(span + plan.interrupt_frac * wait, lambda: self._interrupt(payment_id))
            return
        if step != plan.interrupt_at:
            return
        self._aimed.add(payment_id)
        token = activity.current

        def land() -> None:
            if activity.current == token and activity.running and not activity.resolved:
                self.interrupted.add(payment_id)
            self._interrupt(payment_id)

        self.kernel.at(plan.interrupt_frac * span * 0.999, land)

    def _interrupt(self, payment_id: str) -> None:
        plan = self.plans[payment_id]
        if plan.interrupt_at == "await_confirmation":
            execution = self.kernel.executions.get(payment_id)
            if execution is not None and execution.open:
                status = self.kernel.query(payment_id, "status", PaymentStatus)
                if status.step == "await_confirmation":
                    self.interrupted.add(payment_id)
        if plan.interrupt == "cancel":
            self.kernel.signal(payment_id, "cancel", CancelRequest("virtual"))
        elif plan.interrupt == "temporal_cancel":
            self.kernel.cancel_workflow(payment_id)
        elif plan.interrupt == "terminate" and self.kernel.terminate(payment_id):
            self.terminated.add(payment_id)
            self.kernel.at(1.0, self._reconcile)

    # -- activities ------------------------------------------------------------------------------

    def _down(self, outage: tuple[float, float] | None) -> bool:
        """Whether a service's outage window holds now."""
        return outage is not None and outage[0] <= self.kernel.now < outage[0] + outage[1]

    def _attempt(self, call: ActivityCall) -> Attempt:
        handler: Callable[[World, ActivityCall], Attempt] = getattr(World, f"_{call.activity_type}")
        return handler(self, call)

    def _plan(self, call: ActivityCall) -> PaymentPlan:
        return self.plans[call.workflow_id.removesuffix("-fraud")]

    def _ledger_call(
        self, call: ActivityCall, work: Callable[[], Any], failing: bool = False
    ) -> Attempt:
        """A ledger call, on the next account worker in turn (with its own clock): it fails
        during the outage or when ``failing``."""
        plan = self.plans.get(call.workflow_id.removesuffix("-fraud"))
        latency = plan.latency_s if plan else 0.05
        if failing:
            return Attempt(latency, _raise(_locked()))
        worker = self._account_calls % len(self._worker_clocks)
        self._account_calls += 1

        def on_worker() -> Any:
            self._worker = worker
            self.ledger.host_clock = self._worker_clocks[worker]
            return _ledger(work)

        outage = self.schedule.ledger_outage
        if outage is not None and outage[0] <= call.started_at < outage[0] + outage[1]:
            # Locked: the call waits for the lock, and commits if the outage ends in time.
            unlocked = outage[0] + outage[1] - call.started_at
            if unlocked > LOCK_WAIT_S:
                return Attempt(LOCK_WAIT_S, _raise(_locked()), uncancellable=True)
            return Attempt(unlocked + latency, on_worker, uncancellable=True)
        return Attempt(latency, on_worker)

    def _validate_payment(self, call: ActivityCall) -> Attempt:
        r = _arg(call, ValidateRequest)
        return self._ledger_call(
            call,
            lambda: self.ledger.validate(
                r.user_id, r.amount, r.currency, r.payment_method, r.max_amount
            ),
        )

    def _check_velocity(self, call: ActivityCall) -> Attempt:
        r = _arg(call, VelocityRequest)
        return self._ledger_call(
            call,
            lambda: self.ledger.velocity(r.user_id, r.payment_id, r.window_s, r.max_payments),
        )

    def _debit_account(self, call: ActivityCall) -> Attempt:
        r = _arg(call, LedgerRequest)
        velocity = (
            (r.velocity_window_s, r.velocity_max_payments) if r.velocity_max_payments > 0 else None
        )

        def debit() -> LedgerResult:
            try:
                result = self.ledger.debit(
                    r.payment_id, r.user_id, r.amount, velocity=velocity, checks=r.checks
                )
            except VelocityLimitExceeded:
                self.debit_workers[r.payment_id] = self._worker
                raise
            if not result.duplicate:
                self.debit_workers[r.payment_id] = self._worker
                self.debited_at[r.payment_id] = self.kernel.datetime()
            return result

        attempt = self._ledger_call(call, debit)
        plan = self.plans.get(r.payment_id)
        if plan is None or call.attempt > 1:
            return attempt
        if plan.debit_slow:
            return Attempt(plan.debit_stall_s, attempt.effect, uncancellable=True)
        if plan.debit_lost:
            return Attempt(attempt.duration_s, attempt.effect, lost=True)
        return attempt

    def _refund_account(self, call: ActivityCall) -> Attempt:
        r = _arg(call, LedgerRequest)
        plan = self.plans.get(r.payment_id)
        # Counted over every round of the saga's compensation retries, not per activity.
        tries = self._refund_tries[r.payment_id] = self._refund_tries.get(r.payment_id, 0) + 1
        failing = plan is not None and tries <= plan.refund_failures
        return self._ledger_call(call, lambda: self.ledger.refund(r.payment_id), failing)

    def _list_unrefunded_debits(self, call: ActivityCall) -> Attempt:
        return self._ledger_call(call, self.ledger.unrefunded_debits)

    def _list_unsettled_debits(self, call: ActivityCall) -> Attempt:
        return self._ledger_call(call, self.ledger.unsettled_debits)

    def _mark_settled(self, call: ActivityCall) -> Attempt:
        (ids,) = call.args
        return self._ledger_call(call, lambda: self.ledger.mark_settled(ids))

    def _not_settled(self, call: ActivityCall) -> Attempt:
        (ids,) = call.args
        return self._ledger_call(call, lambda: self.ledger.not_settled(ids))

    def _repair_refund(self, call: ActivityCall) -> Attempt:
        r = _arg(call, RepairRequest)

        def repair() -> RepairResult:
            result = self.ledger.refund(r.payment_id, repair_reason=r.reason)
            return RepairResult(r.payment_id, "refund", result.amount > 0 and not result.duplicate)

        return self._ledger_call(call, repair)

    def _journal_repair(self, call: ActivityCall) -> Attempt:
        r = _arg(call, RepairRequest)
        return self._ledger_call(
            call,
            lambda: RepairResult(
                r.payment_id, r.kind, self.ledger.record_repair(r.payment_id, r.kind, r.reason, 0)
            ),
        )

    # -- the provider ----------------------------------------------------------------------------

    @property
    def charges(self) -> dict[str, Charge]:
        """The provider's charges, by key (the payment id)."""
        return self.provider.charges

    def _charge_payment(self, call: ActivityCall) -> Attempt:
        r = _arg(call, ChargeRequest)
        plan = self.plans[r.payment_id]
        if call.attempt <= plan.charge_failures or self._down(self.schedule.provider_outage):
            return _failing(plan, call, "provider answered 503")
        lost = plan.charge_lost and call.attempt == 1
        late = bool(plan.charge_late_s) and call.attempt == plan.charge_failures + 1
        # Asked again only if this attempt left after the saga heard the decline (a late
        # attempt may land after it without the saga asking anything).
        asked_after_decline = r.payment_id in self._declines_heard

        def charge() -> ChargeResult:
            key = r.payment_id
            if key in self.charges and asked_after_decline:
                self.asked_after_decline.add(key)
            try:
                existing, new = self.provider.charge(
                    key,
                    r.payment_id,
                    r.amount,
                    charge_id=f"ch_{key}",
                    declined=plan.decline or plan.callback_status == "declined",
                    now=self.kernel.now,
                    capture_after_s=plan.capture_after_s if plan.strict_provider else None,
                )
            except Refused as refused:
                raise _final(
                    f"provider refused (409): {refused}", call, "ProviderRejected"
                ) from None
            if new and not plan.decline:
                self._send_callbacks(existing, plan)
            if existing.outcome == "declined" and plan.decline:
                if not lost and not late:  # the saga hears this answer
                    self._declines_heard.add(key)
                raise _final("provider declined: card declined", call, DECLINED)
            return ChargeResult(charge_id=f"ch_{key}", attempt=call.attempt)

        if late:
            # Unanswered: the worker gives up at its timeout; the provider charges later anyway.
            self.late_charged.add(r.payment_id)
            return Attempt(plan.charge_late_s, charge, uncancellable=True)
        return Attempt(plan.latency_s, charge, report_after_s=plan.latency_s, lost=lost)

    def _send_callbacks(self, charge: Charge, plan: PaymentPlan) -> None:
        charge_id = f"ch_{charge.payment_id}"
        own = ProviderConfirmation(f"evt_{charge_id}", charge_id, charge.outcome)
        first = plan.latency_s * (0.5 if plan.callback == "early" else 2.0)
        copies: list[tuple[float, ProviderConfirmation]] = []
        if plan.callback == "late":
            copies = [(LATE_AFTER_TIMER_S + 1.5 * plan.latency_s, own)]
        elif plan.callback == "foreign":
            other = f"ch_other_{charge.payment_id}"
            foreign = ProviderConfirmation(f"{FOREIGN_EVENT}{other}", other, plan.foreign_status)
            copies = [(first / 2, foreign), (first, own)]
        elif plan.callback == "duplicate":
            copies = [(first, own), (first + REDELIVERY_GAP_S, own)]
        elif plan.callback != "missing":
            copies = [(first, own)]
        for delay, confirmation in copies:

            def deliver(confirmation: ProviderConfirmation = confirmation) -> None:
                if confirmation.charge_id == charge_id:
                    charge.callbacks_sent += 1
                self.kernel.signal(charge.payment_id, "provider_confirmation", confirmation)

            self.kernel.at(delay, deliver)

    def _void_charge(self, call: ActivityCall) -> Attempt:
        r = _arg(call, VoidRequest)
        plan = self.plans.get(r.payment_id)
        if self._down(self.schedule.provider_outage):
            return _failing(plan or PaymentPlan(), call, "provider answered 503")

        def void() -> VoidResult:
            strict = plan is not None and plan.strict_provider
            try:
                _, voided = self.provider.void(r.payment_id, strict=strict, now=self.kernel.now)
            except Refused:
                raise _final(
                    f"void refused (409): {r.payment_id} was captured", call, VOID_REJECTED
                ) from None
            return VoidResult(voided=voided)

        return Attempt(plan.latency_s if plan else 0.05, void)

    def _refund_charge(self, call: ActivityCall) -> Attempt:
        r = _arg(call, ChargeRefundRequest)
        plan = self.plans.get(r.payment_id)
        if self._down(self.schedule.provider_outage):
            return _failing(plan or PaymentPlan(), call, "provider answered 503")

        def refund() -> ChargeRefundResult:
            try:
                _, refunded = self.provider.refund(r.payment_id, now=self.kernel.now)
            except Refused:
                raise _final(
                    f"refund refused (409): {r.payment_id} is an authorization",
                    call,
                    REFUND_REJECTED,
                ) from None
            return ChargeRefundResult(refunded=refunded)

        return Attempt(plan.latency_s if plan else 0.05, refund)

    def _list_provider_charges(self, call: ActivityCall) -> Attempt:
        return self._charges_as_listed(lambda: list(self.charges.values()))

    def _read_provider_charges(self, call: ActivityCall) -> Attempt:
        (ids,) = call.args
        return self._charges_as_listed(
            lambda: [c for c in (self.charges.get(i) for i in ids) if c is not None]
        )

    def _charges_as_listed(self, select: Callable[[], list[Charge]]) -> Attempt:
        """The charges ``select`` picks when the call completes, with their status as of its
        start, as the provider's API shows them."""
        now = self.kernel.now
        return Attempt(
            0.05,
            lambda: [
                ProviderCharge(c.payment_id, f"ch_{c.payment_id}", c.amount, c.status(now))
                for c in select()
            ],
        )

    def _describe_executions(self, call: ActivityCall) -> Attempt:
        (ids,) = call.args

        def describe() -> list[ExecutionFacts]:
            facts = []
            for payment_id in ids:
                execution = self.kernel.executions.get(payment_id)
                if execution is None:
                    facts.append(ExecutionFacts(payment_id, "NOT_FOUND", None))
                    continue
                state = _text(execution.search_attributes.get("PaymentStatus"))
                closed = execution.closed_at
                at = None if closed is None else (EPOCH + timedelta(seconds=closed)).isoformat()
                facts.append(ExecutionFacts(payment_id, execution.status, state, at))
            return facts

        return Attempt(0.05, describe)

    def _list_undecided_executions(self, call: ActivityCall) -> Attempt:
        (since,) = call.args
        user = user_of(self.schedule)

        def undecided() -> list[ExecutionFacts]:
            found = []
            for payment_id in self.plans:
                execution = self.kernel.executions.get(payment_id)
                if execution is None or execution.closed_at is None:
                    continue
                state = _text(execution.search_attributes.get("PaymentStatus"))
                closed = EPOCH + timedelta(seconds=execution.closed_at)
                if execution.status in UNDECIDED and closed > datetime.fromisoformat(since):
                    found.append(
                        ExecutionFacts(
                            payment_id, execution.status, state, closed.isoformat(), user
                        )
                    )
            return found

        return Attempt(0.05, undecided)

    # -- fraud and notifications -----------------------------------------------------------------

    def _score_payment(self, call: ActivityCall) -> Attempt:
        r = _arg(call, FraudCheckRequest)
        plan = self.plans[r.payment_id]
        if plan.fraud == "error":
            return _failing(plan, call, "fraud service answered 503")
        if plan.fraud == "slow":
            slow = SCORING_TIMEOUT.total_seconds() + 5
            return Attempt(slow, _raise(_transient("fraud scoring timed out", call)))
        passed = plan.fraud == "pass"
        verdict = FraudVerdict(passed, 0.1 if passed else 0.97, [] if passed else ["velocity"])

        def score() -> FraudVerdict:
            if not passed:
                self.fraud_rejected.add(r.payment_id)
            return verdict

        return Attempt(plan.latency_s, score)

    def _send_notification(self, call: ActivityCall) -> Attempt:
        r = _arg(call, NotificationRequest)
        plan = self.plans[r.payment_id]
        # Counted per notice, over the saga's first attempts and its later retries.
        tries = self._notice_tries[r.notification_id] = (
            self._notice_tries.get(r.notification_id, 0) + 1
        )
        if r.channel in self.schedule.refused_channels:
            self.refused.append(
                {
                    "notification_id": r.notification_id,
                    "payment_id": r.payment_id,
                    "channel": r.channel,
                }
            )
            refused = _final(f"the {r.channel} channel is refused (422)", call, CHANNEL_REFUSED)
            return Attempt(plan.latency_s, _raise(refused))
        if tries <= plan.notify_failures or self._down(self.schedule.notify_outage):
            return _failing(plan, call, "notify answered 503")

        def send() -> NotificationResult:
            self.outbox.setdefault(
                r.notification_id,
                {
                    "notification_id": r.notification_id,
                    "payment_id": r.payment_id,
                    "user_id": r.user_id,
                    "channel": r.channel,
                    "message": notification_message(r),
                },
            )
            return NotificationResult(r.notification_id, r.channel)

        return Attempt(plan.latency_s, send)

    # -- the evidence ----------------------------------------------------------------------------

    def _judge(self) -> ScheduleResult:
        user = user_of(self.schedule)
        ids = list(self.plans)
        snapshot = self.ledger.snapshot()
        payments = [self._payment(pid, user) for pid in ids]
        succeeded = {p.payment_id for p in payments if p.api.get("state") == "succeeded"}
        now = self.kernel.now
        bundle = Bundle(
            entries=[
                LedgerEntry(e.payment_id, e.user_id, e.kind, e.amount, e.created_at)
                for e in snapshot.entries
                if e.user_id == user
            ],
            balances={user: snapshot.balances[user]},
            repairs=[
                LedgerRepair(r.payment_id, r.kind, r.reason, r.amount)
                for r in snapshot.repairs
                if r.payment_id in self.plans
            ],
            charges=[
                {
                    "charge_id": f"ch_{c.payment_id}",
                    "key": c.payment_id,
                    "payment_id": c.payment_id,
                    "amount": c.amount,
                    "outcome": c.outcome,
                    "status": c.status(now),
                    "callbacks_sent": c.callbacks_sent,
                }
                for c in self.charges.values()
            ],
            notifications=[n for n in self.outbox.values() if n["payment_id"] in self.plans],
            notices_refused=[n for n in self.refused if n["payment_id"] in self.plans],
            payments=payments,
            velocity_window_s=SagaOptions().velocity_window_s,
            velocity_max_payments=self.schedule.velocity_max_payments,
            callback_timeout_s=SagaOptions().callback_timeout_s,
        )
        checks = [
            *check_all(bundle),
            reconciler_honest(bundle, self.late_charged),
            terminated_told(bundle),
            _only(
                DECLINES_FINAL,
                "no charge asked again after its decline",
                self.asked_after_decline,
                len(self.plans),
            ),
            _only(
                FRAUD_HONOURED,
                "no success after a fraud rejection",
                self.fraud_rejected & succeeded,
                len(self.plans),
            ),
        ]
        failed = [c for c in checks if not c.valid]
        activations = sum(e.activations for e in self.kernel.executions.values())
        late = {p for p in self.late_charged if p in self.charges}
        evicted = {p for p in self.plans if (e := self.kernel.executions.get(p)) and e.evictions}
        mixed = {
            p: set(e.mixed) for p in self.plans if (e := self.kernel.executions.get(p)) and e.mixed
        }
        crashed = {p for p in self.plans if (e := self.kernel.executions.get(p)) and e.crashes}
        clocks = self.schedule.account_clocks_s
        deciders = {clocks[w] for w in self.debit_workers.values()} if clocks else set()
        clocks_split = len(deciders) > 1 and self.schedule.velocity_max_payments < len(ids)
        return ScheduleResult(
            self.schedule,
            failed,
            bundle,
            set(self.interrupted),
            activations,
            now,
            late,
            evicted,
            mixed,
            crashed,
            clocks_split,
            set(self.replayed),
        )

    def _payment(self, payment_id: str, user: str) -> Payment:
        plan = self.plans[payment_id]
        execution = self.kernel.executions.get(payment_id)
        debited_at = self.debited_at.get(payment_id)
        between = [] if debited_at is None else [debited_at.isoformat()] * 2
        if payment_id in self.deleted:  # the retry must have started no second saga
            fraud = self.kernel.executions.get(f"{payment_id}-fraud")
            again = None if execution is None else _execution(execution, fraud)
            before = self.deleted[payment_id]
            return Payment(
                payment_id, user, plan.amount, False, before, again, True, False, between
            )
        if execution is None:
            return Payment(payment_id, user, plan.amount, False, {}, None)
        try:
            status = msgspec.to_builtins(self.kernel.query(payment_id, "status", PaymentStatus))
        except Exception:  # a stuck instance may not answer; the checkers see an empty status
            status = {}
        fraud = self.kernel.executions.get(f"{payment_id}-fraud")
        return Payment(
            payment_id,
            user,
            plan.amount,
            payment_id in self.terminated,
            status,
            _execution(execution, fraud),
            healthy=healthy(self.schedule, plan),
            debit_between=between,
        )


def _only(name: str, expected: str, payments: set[str], checked: int) -> Check:
    problems = [Counterexample(p, expected, "it was") for p in sorted(payments)]
    return Check(name, not problems, checked, problems)


def terminated_told(bundle: Bundle) -> Check:
    """Every payment a termination cut short was told its outcome once the reconciler settled
    it: a notice naming the state its money settled as, and none naming another (its saga's
    own notice may have gone out before the termination too). A payment in review (its
    charge captured, its debit kept) waits for a person, and is told by them; one whose notice
    the notification service refused on both channels cannot be told."""
    problems = []
    terminated = {p.payment_id for p in bundle.payments if p.terminated}
    refused = refused_channels(bundle)
    # Refused on both channels, a notice cannot be delivered: the reconciler settles without it.
    untellable = {pid for pid, channels in refused.items() if channels >= {"email", "sms"}}
    rows = [
        r
        for r in payment_rows(bundle)
        if r.payment_id in terminated and r.reason != REVIEW and r.payment_id not in untellable
    ]
    for row in rows:
        if not row.notifications or any(n != row.state for n in row.notifications):
            told = row.notifications or "nothing"
            problems.append(Counterexample(row.payment_id, f"told {row.state}", f"told {told}"))
    return Check(TERMINATED_TOLD, not problems, len(rows), problems)


def reconciler_honest(bundle: Bundle, late_charged: Collection[str] = ()) -> Check:
    """The reconciler repaired only what no saga could: payments a termination cut short, and
    charges the provider made after the saga's worker gave up on them (a repair of any other
    payment covers for a saga that left money behind)."""
    beyond_saga = {p.payment_id for p in bundle.payments if p.terminated} | {*late_charged}
    problems = [
        Counterexample(
            r.payment_id,
            "repairs only of terminated or late-charged payments",
            f"a {r.kind} repair",
        )
        for r in bundle.repairs
        if r.payment_id not in beyond_saga
    ]
    return Check(RECONCILER_HONEST, not problems, len(bundle.repairs), problems)


def _execution(execution: KernelExecution, fraud: KernelExecution | None) -> Execution:
    callbacks = []
    for signal in execution.signals:
        if signal.name != "provider_confirmation":
            continue
        (confirmation,) = signal.args
        callbacks.append(
            Callback(
                confirmation.event_id,
                confirmation.charge_id,
                confirmation.status,
                _text(signal.search_status) in TERMINAL,
            )
        )
    return Execution(
        status=execution.status,
        search_status=_text(execution.search_attributes.get("PaymentStatus")),
        task_failures=list(execution.task_failures),
        callbacks=callbacks,
        fraud_child=None if fraud is None else fraud.status,
        timers_s=list(execution.timers_s),
        fraud_passed=_verdict(fraud),
        cancel_requests=int(execution.cancel_requested),
        cancel_signals=sum(
            s.name == "cancel" and _text(s.search_status) not in TERMINAL for s in execution.signals
        ),
    )


def _verdict(fraud: KernelExecution | None) -> bool | None:
    """The fraud child's own verdict, if it completed."""
    if fraud is None or fraud.status != "COMPLETED" or fraud.result is None:
        return None
    (verdict,) = CONVERTER.payload_converter.from_payloads([fraud.result], [FraudVerdict])
    return bool(verdict.passed)


def _text(value: Any) -> str | None:
    """A keyword search attribute's value (the SDK encodes it as a one-item list)."""
    if isinstance(value, list):
        value = value[0] if value else None
    return None if value is None else str(value)


def _skewed(kernel: Kernel, skew: timedelta) -> datetime:
    """The virtual clock as a worker whose clock is ``skew`` off reads it."""
    return kernel.datetime() + skew


def _ledger(work: Callable[[], Any]) -> Any:
    try:
        return work()
    except LedgerError as err:
        raise ledger_refusal(err) from err


A = typing.TypeVar("A")


def _arg(call: ActivityCall, kind: type[A]) -> A:
    """The one argument of an activity call, of the type its contract says."""
    (arg,) = call.args
    assert isinstance(arg, kind), f"{call.activity_type} got {type(arg).__name__}"
    return arg


def _raise(error: BaseException) -> Callable[[], Any]:
    def fail() -> Any:
        raise error

    return fail


def _failing(plan: PaymentPlan, call: ActivityCall, what: str) -> Attempt:
    """An attempt the service answers with a 5xx after its usual latency."""
    return Attempt(plan.latency_s, _raise(_transient(what, call)))


def _locked() -> Exception:
    return ApplicationError("database is locked (virtual outage)", type="OperationalError")


def _final(message: str, call: ActivityCall, kind: str) -> ApplicationError:
    """An answer the saga must not retry (the provider's 402 or 409), with the attempt count
    the activity reports."""
    return ApplicationError(message, call.attempt, kind, type=kind, non_retryable=True)


def _transient(what: str, call: ActivityCall) -> ApplicationError:
    return ApplicationError(f"{what} (virtual)", call.attempt, "http_5xx", type=TRANSIENT)
