"""Fake activities registered under the real activity names, with switches for each fault.

Each test builds a :class:`FakeServices`, flips its switches, and runs workers that serve its
activities on the real task queues. The fake provider signals the workflow like the real webhook.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field

from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from orchestrator.activities.provider import DECLINED
from orchestrator.models import (
    ACCOUNTS_QUEUE,
    FRAUD_QUEUE,
    NOTIFICATIONS_QUEUE,
    PAYMENTS_QUEUE,
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
from orchestrator.workflows.fraud import FraudCheckWorkflow
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
    hold_validate: asyncio.Event | None = None
    hold_debit: asyncio.Event | None = None
    calls: list[str] = field(default_factory=list)
    debited: set[str] = field(default_factory=set)
    authorized: set[str] = field(default_factory=set)
    callbacks: set[asyncio.Task[None]] = field(default_factory=set)

    @activity.defn(name="validate_payment")
    async def validate_payment(self, request: ValidateRequest) -> ValidationResult:
        self.calls.append("validate")
        if self.hold_validate:
            await self.hold_validate.wait()
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
        if self.hold_debit:
            await self.hold_debit.wait()
        self.debited.add(request.payment_id)
        return LedgerResult(request.amount, 1000 - request.amount)

    @activity.defn(name="refund_account")
    async def refund_account(self, request: LedgerRequest) -> LedgerResult:
        self.calls.append("refund")
        refunded = request.amount if request.payment_id in self.debited else 0
        return LedgerResult(refunded, 1000)

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
        self.authorized.add(request.payment_id)
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
                ProviderConfirmation(f"evt_{payment_id}", f"ch_{payment_id}", self.callback),
            )

    @activity.defn(name="void_charge")
    async def void_charge(self, request: VoidRequest) -> VoidResult:
        self.calls.append("void")
        return VoidResult(voided=request.payment_id in self.authorized)

    @activity.defn(name="score_payment")
    async def score_payment(self, request: FraudCheckRequest) -> FraudVerdict:
        self.calls.append("score")
        if self.fraud_delay_s:
            await asyncio.sleep(self.fraud_delay_s)
        return FraudVerdict(self.fraud_passes, 0.1 if self.fraud_passes else 0.97, [])

    @activity.defn(name="send_notification")
    async def send_notification(self, request: NotificationRequest) -> NotificationResult:
        self.calls.append(f"notify:{request.state}")
        if self.notifications_down:
            raise ApplicationError("notification service down", type="ProviderUnavailable")
        return NotificationResult(request.notification_id, request.channel)

    @asynccontextmanager
    async def workers(self, max_cached_workflows: int = 1000) -> AsyncIterator[None]:
        """Serve the fakes and the real workflows on the real task queues.

        ``max_cached_workflows=0`` makes every workflow task replay the history from the start.
        """
        queues = {
            PAYMENTS_QUEUE: ([PaymentWorkflow], [self.charge_payment, self.void_charge]),
            ACCOUNTS_QUEUE: (
                [],
                [
                    self.validate_payment,
                    self.check_velocity,
                    self.debit_account,
                    self.refund_account,
                ],
            ),
            FRAUD_QUEUE: ([FraudCheckWorkflow], [self.score_payment]),
            NOTIFICATIONS_QUEUE: ([], [self.send_notification]),
        }
        async with AsyncExitStack() as stack:
            for queue, (workflows, activities) in queues.items():
                await stack.enter_async_context(
                    Worker(
                        self.client,
                        task_queue=queue,
                        workflows=workflows,
                        activities=activities,
                        max_cached_workflows=max_cached_workflows,
                    )
                )
            yield
