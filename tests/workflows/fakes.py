"""Fake activities registered under the real activity names, with switches for each fault.

Each test builds a :class:`FakeServices`, flips its switches, and runs workers that serve its
activities on the real task queues. The fake provider signals the workflow like the real webhook.
The fakes keep the real services' money rules in small models: the ledger's (idempotent debit,
refund of the debit only, tombstones, the velocity limit inside the debit) and the provider's
(lenient or strict voids, captures), so a test can tell whether money was lost.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from orchestrator.activities.provider import DECLINED, VOID_REJECTED
from orchestrator.models import (
    ChargeRefundRequest,
    ChargeRefundResult,
    ChargeRequest,
    ChargeResult,
    FraudCheckRequest,
    FraudVerdict,
    LedgerRequest,
    LedgerResult,
    NotificationRequest,
    NotificationResult,
    ProviderConfirmation,
    ValidateRequest,
    ValidationResult,
    VelocityRequest,
    VoidRequest,
    VoidResult,
)
from orchestrator.workers import serve_saga
from orchestrator.workflows.builds import BUILDS, CURRENT_BUILD
from orchestrator.workflows.payment import PaymentWorkflow


@dataclass
class FakeServices:
    """Switches for every fault the saga handles, and a log of every call."""

    client: Client
    invalid_reason: str | None = None
    velocity_exceeded: bool = False
    transient_charge_failures: int = 0
    decline: bool = False
    callback: str | None = "succeeded"  # None: the provider never calls back
    duplicate_callbacks: int = 0
    callback_first: bool = False  # the callback lands before the charge call returns
    fraud_passes: bool = True
    fraud_delay_s: float = 0.0
    notifications_down: bool = False
    notify_failures: int = 0
    """The first N notification attempts fail (then they succeed)."""
    hold_validate: asyncio.Event | None = None
    hold_debit: asyncio.Event | None = None
    validate_fails: bool = False  # every validate attempt fails (retryable): an outage
    debit_commits_then_fails: bool = False  # each debit attempt commits, then reports a failure
    refund_failures: int = 0  # the first N refund attempts fail (retryable)
    charge_delay_s: float = 0.0  # each charge attempt takes this long before it lands
    strict_provider: bool = False  # no void-before-charge tombstones
    captured: bool = False  # the provider has captured: voids are refused
    callback_charge_id: str | None = None  # the callback names this charge instead of ours
    calls: list[str] = field(default_factory=list)
    debited: dict[str, int] = field(default_factory=dict)
    refunded: dict[str, int] = field(default_factory=dict)
    tombstones: set[str] = field(default_factory=set)
    authorized: set[str] = field(default_factory=set)
    voided: set[str] = field(default_factory=set)
    callbacks: set[asyncio.Task[None]] = field(default_factory=set)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)

    def money_lost(self) -> list[str]:
        """Payments whose money is not where the saga's outcome says (checked by tests)."""
        wrong = [p for p in self.debited if p in self.refunded and self.refunded[p] != 1]
        return wrong + [p for p in self.authorized if p in self.refunded]

    @activity.defn(name="validate_payment")
    async def validate_payment(self, request: ValidateRequest) -> ValidationResult:
        self.calls.append("validate")
        if self.hold_validate:
            await self.hold_validate.wait()
        if self.validate_fails:
            raise ApplicationError("database is locked", type="OperationalError")
        if self.invalid_reason:
            return ValidationResult(False, self.invalid_reason, "fake")
        return ValidationResult(True)

    @activity.defn(name="check_velocity")
    async def check_velocity(self, request: VelocityRequest) -> ValidationResult:
        self.calls.append("velocity")
        if self.velocity_exceeded:
            return ValidationResult(False, "velocity_limit", "fake")
        return ValidationResult(True)

    @activity.defn(name="debit_account")
    async def debit_account(self, request: LedgerRequest) -> LedgerResult:
        self.calls.append("debit")
        if request.checks is not None and request.payment_id not in self.debited:
            # A validated debit (validated-debit patch): validation's faults apply to it.
            if self.hold_validate:
                await self.hold_validate.wait()
            if self.validate_fails:
                raise ApplicationError("database is locked", type="OperationalError")
            if self.invalid_reason:
                raise ApplicationError(
                    "fake", self.invalid_reason, type="PaymentInvalid", non_retryable=True
                )
        if self.hold_debit:
            await self.hold_debit.wait()
        if request.payment_id in self.tombstones:
            raise ApplicationError("compensated", type="PaymentCompensated", non_retryable=True)
        if request.velocity_max_payments > 0 and self.velocity_exceeded:
            raise ApplicationError("over the limit", type="VelocityLimit", non_retryable=True)
        self.debited.setdefault(request.payment_id, request.amount)
        self.calls.append("debit:committed")
        if self.debit_commits_then_fails:
            raise ApplicationError("timed out after commit", type="OperationalError")
        return LedgerResult(request.amount, 1000 - request.amount)

    @activity.defn(name="refund_account")
    async def refund_account(self, request: LedgerRequest) -> LedgerResult:
        self.calls.append("refund")
        if self.refund_failures > 0:
            self.refund_failures -= 1
            raise ApplicationError("database is locked", type="OperationalError")
        if request.payment_id not in self.debited:
            self.tombstones.add(request.payment_id)
            return LedgerResult(0, 1000)
        self.refunded[request.payment_id] = self.refunded.get(request.payment_id, 0) + 1
        return LedgerResult(self.debited[request.payment_id], 1000)

    @activity.defn(name="charge_payment")
    async def charge_payment(self, request: ChargeRequest) -> ChargeResult:
        info = activity.info()
        self.calls.append("charge")
        if info.attempt <= self.transient_charge_failures:
            raise ApplicationError(
                "provider 503", info.attempt, "http_5xx", type="ProviderUnavailable"
            )
        if self.decline:
            raise ApplicationError("declined", info.attempt, type=DECLINED, non_retryable=True)
        if self.charge_delay_s:
            await asyncio.sleep(self.charge_delay_s)
        if request.payment_id in self.voided:
            raise ApplicationError(
                "voided", info.attempt, type="ProviderRejected", non_retryable=True
            )
        self.authorized.add(request.payment_id)
        self.calls.append("charge:authorized")
        if self.callback and self.callback_first:
            await self._call_back(request.payment_id, info.workflow_id)
        elif self.callback:
            task = asyncio.create_task(self._call_back(request.payment_id, info.workflow_id))
            self.callbacks.add(task)
            task.add_done_callback(self.callbacks.discard)
        return ChargeResult(charge_id=f"ch_{request.payment_id}", attempt=info.attempt)

    async def _call_back(self, payment_id: str, workflow_id: str) -> None:
        handle = self.client.get_workflow_handle(workflow_id)
        assert self.callback is not None
        for _ in range(1 + self.duplicate_callbacks):  # a redelivery keeps its event id
            await handle.signal(
                PaymentWorkflow.provider_confirmation,
                ProviderConfirmation(
                    f"evt_{payment_id}",
                    self.callback_charge_id or f"ch_{payment_id}",
                    self.callback,
                ),
            )

    @activity.defn(name="void_charge")
    async def void_charge(self, request: VoidRequest) -> VoidResult:
        self.calls.append("void")
        if request.payment_id not in self.authorized:
            if not self.strict_provider:
                self.voided.add(request.payment_id)  # lenient: a late charge is refused
            return VoidResult(voided=False)
        if self.captured:
            raise ApplicationError("captured", type=VOID_REJECTED, non_retryable=True)
        self.authorized.discard(request.payment_id)
        self.voided.add(request.payment_id)
        return VoidResult(voided=True)

    @activity.defn(name="refund_charge")
    async def refund_charge(self, request: ChargeRefundRequest) -> ChargeRefundResult:
        self.calls.append("refund_charge")
        if request.payment_id not in self.authorized or not self.captured:
            return ChargeRefundResult(refunded=False)
        self.authorized.discard(request.payment_id)
        return ChargeRefundResult(refunded=True)

    @activity.defn(name="score_payment")
    async def score_payment(self, request: FraudCheckRequest) -> FraudVerdict:
        self.calls.append("score")
        if self.fraud_delay_s:
            # Ends early when the workers stop: an activity the server still counts as running
            # would hold the test server's virtual clock for every later test of the module.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), self.fraud_delay_s)
        return FraudVerdict(self.fraud_passes, 0.1 if self.fraud_passes else 0.97, [])

    @activity.defn(name="send_notification")
    async def send_notification(self, request: NotificationRequest) -> NotificationResult:
        self.calls.append(f"notify:{request.state}")
        if self.notifications_down or self.calls.count(f"notify:{request.state}") <= (
            self.notify_failures
        ):
            raise ApplicationError("notification service down", type="ProviderUnavailable")
        return NotificationResult(request.notification_id, request.channel)

    @asynccontextmanager
    async def workers(
        self,
        max_cached_workflows: int = 1000,
        payment_workflow: type = PaymentWorkflow,
        absent: frozenset[str] = frozenset(),
    ) -> AsyncIterator[None]:
        """Serve the fakes and the real workflows on the real task queues.

        ``max_cached_workflows=0`` makes every workflow task replay the history from the start;
        ``payment_workflow`` swaps in another build of the saga (``builds.PaymentWorkflowV1``);
        the task queues in ``absent`` get no worker at all (a service that is down).
        """
        workflows = {**BUILDS[CURRENT_BUILD], "PaymentWorkflow": payment_workflow}
        async with serve_saga(
            self.client,
            self,
            workflows,
            absent=absent,
            max_cached_workflows=max_cached_workflows,
        ):
            try:
                yield
            finally:
                self.stopping.set()
                await asyncio.sleep(0.2)  # let released activities report before shutdown


#: ``(step, switches, compensations)``: the switches hold a payment at the step long enough to
#: cancel it there, and a cancel at that step must run exactly those compensations.
AT_EACH_STEP: list[tuple[str, dict[str, object], list[str]]] = [
    # Validation is the first part of the debit (validated-debit): a cancel while it validates
    # is acted on once the debit has committed, and refunds it.
    ("debit", {"hold_validate": True}, ["refund"]),
    ("debit", {"hold_debit": True}, ["refund"]),
    (
        "charge",
        {"transient_charge_failures": 99, "fraud_delay_s": 3600},
        ["fraud_check_cancelled", "refund"],
    ),
    (
        "await_confirmation",
        {"callback": None, "fraud_delay_s": 3600},
        ["void", "fraud_check_cancelled", "refund"],
    ),
    ("await_fraud", {"fraud_delay_s": 3600}, ["void", "fraud_check_cancelled", "refund"]),
]


def held_at(
    client: Client, switches: dict[str, object]
) -> tuple[FakeServices, list[asyncio.Event]]:
    """Fakes with ``switches`` set; ``hold_*`` switches become events the test releases."""
    holds = {k: asyncio.Event() for k in ("hold_validate", "hold_debit") if switches.get(k)}
    settings = {k: v for k, v in switches.items() if k not in holds}
    return FakeServices(client, **settings, **holds), list(holds.values())  # type: ignore[arg-type]
