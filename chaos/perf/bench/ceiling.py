"""The ceiling: the real PaymentWorkflow and its fraud child with no-op activity bodies.

Same workflow code, same activities (by name), same child workflow, same provider signal and the
same Temporal server as the full system; only the activity bodies do nothing and the workflows
are started directly through the client. It runs in its own namespace so the stack's real
workers (which poll the same task-queue names in ``default``) never see these tasks.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from temporalio import activity
from temporalio.client import Client

from orchestrator.config import StackConfig
from orchestrator.models import (
    PAYMENTS_QUEUE,
    ChargeRequest,
    ChargeResult,
    FraudCheckRequest,
    FraudVerdict,
    LedgerRequest,
    LedgerResult,
    NotificationRequest,
    NotificationResult,
    PaymentRequest,
    ProviderConfirmation,
    SagaOptions,
    ValidateRequest,
    ValidationResult,
    VelocityRequest,
    VoidRequest,
    VoidResult,
)
from orchestrator.roles import workflow_runner
from orchestrator.temporal_client import connect, register_search_attributes
from orchestrator.workers import serve_saga
from orchestrator.workflows.payment import PaymentWorkflow
from runtime.embedded import BENCH_NAMESPACE


class NoOpServices:
    """Every activity of the saga, answering at once; the charge signals like the webhook."""

    def __init__(self, client: Client) -> None:
        self.client = client

    @activity.defn(name="validate_payment")
    async def validate_payment(self, request: ValidateRequest) -> ValidationResult:
        """Valid."""
        return ValidationResult(True)

    @activity.defn(name="check_velocity")
    async def check_velocity(self, request: VelocityRequest) -> ValidationResult:
        """Under the limit."""
        return ValidationResult(True)

    @activity.defn(name="debit_account")
    async def debit_account(self, request: LedgerRequest) -> LedgerResult:
        """Debited."""
        return LedgerResult(request.amount, 0)

    @activity.defn(name="refund_account")
    async def refund_account(self, request: LedgerRequest) -> LedgerResult:
        """Refunded."""
        return LedgerResult(request.amount, 0)

    @activity.defn(name="charge_payment")
    async def charge_payment(self, request: ChargeRequest) -> ChargeResult:
        """Accepted; the confirmation signal goes out at once, as the webhook would send it."""
        info = activity.info()
        assert info.workflow_id is not None, "the saga's charge runs in a workflow"
        await self.client.get_workflow_handle(info.workflow_id).signal(
            PaymentWorkflow.provider_confirmation,
            ProviderConfirmation(
                f"evt_{request.payment_id}", f"ch_{request.payment_id}", "succeeded"
            ),
        )
        return ChargeResult(charge_id=f"ch_{request.payment_id}", attempt=info.attempt)

    @activity.defn(name="void_charge")
    async def void_charge(self, request: VoidRequest) -> VoidResult:
        """Nothing to void."""
        return VoidResult(voided=False)

    @activity.defn(name="score_payment")
    async def score_payment(self, request: FraudCheckRequest) -> FraudVerdict:
        """Passes."""
        return FraudVerdict(True, 0.1, [])

    @activity.defn(name="send_notification")
    async def send_notification(self, request: NotificationRequest) -> NotificationResult:
        """Sent."""
        return NotificationResult(request.notification_id, request.channel)


@asynccontextmanager
async def noop_workers(client: Client, *, sandboxed: bool) -> AsyncIterator[None]:
    """The four task queues served with the real workflows (run as the stack's workers run
    them, in the sandbox or not) and no-op activities."""
    async with serve_saga(client, NoOpServices(client), workflow_runner=workflow_runner(sandboxed)):
        yield


@dataclass
class CeilingResult:
    """Closed-loop throughput and latency of the no-op saga."""

    payments: int
    concurrency: int
    elapsed_s: float
    latencies_s: list[float]
    #: Sagas run before the measured ones (inside the CPU measurement, outside the latencies).
    warmup: int = 0

    @property
    def throughput(self) -> float:
        """Payments per second."""
        return self.payments / self.elapsed_s


async def run_ceiling(
    config: StackConfig, payments: int = 300, concurrency: int = 40, warmup: int = 20
) -> CeilingResult:
    """Start ``payments`` sagas with ``concurrency`` in flight; each must succeed."""
    client = await connect(config, namespace=BENCH_NAMESPACE)
    await register_search_attributes(client)
    options = SagaOptions()

    async def one() -> float:
        payment_id = f"bench-{uuid.uuid4().hex[:16]}"
        began = time.perf_counter()
        outcome = await client.execute_workflow(
            PaymentWorkflow.run,
            PaymentRequest(payment_id, "bench", 1000, "USD", "card", options),
            id=payment_id,
            task_queue=PAYMENTS_QUEUE,
        )
        if outcome.state != "succeeded":
            raise RuntimeError(f"ceiling payment {payment_id} ended {outcome.state}")
        return time.perf_counter() - began

    async def run(count: int) -> list[float]:
        limit = asyncio.Semaphore(concurrency)

        async def limited() -> float:
            async with limit:
                return await one()

        return list(await asyncio.gather(*(limited() for _ in range(count))))

    async with noop_workers(client, sandboxed=config.workflow_sandbox):
        await run(warmup)
        began = time.perf_counter()
        latencies = await run(payments)
        elapsed = time.perf_counter() - began
    return CeilingResult(payments, concurrency, elapsed, latencies, warmup)
