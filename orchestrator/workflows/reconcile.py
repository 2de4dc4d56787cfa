"""ReconcileWorkflow: repairs what no saga will (task queue ``payments``).

A saga compensates every path it sees, but ``temporal workflow terminate``, an execution
timeout, or a provider charge that lands after its void (a strict provider has no tombstones)
leave money where no running saga will move it. Run by a Temporal Schedule (every minute by
default, :mod:`orchestrator.reconcile`) or on demand (``saga reconcile``), the reconciler reads
three sources and plans repairs with :func:`plan_repairs`, a pure function:

- the ledger's debits without a refund (account service),
- the provider's charges (provider API),
- each payment's execution: close status and ``PaymentStatus`` (Temporal).

It leaves running executions alone. A debit of a payment whose execution did not end
``succeeded`` is refunded (same idempotency key as the saga's refund, so the two can never
both happen); a live authorization of such a payment is voided; a capture of such a payment is
listed for review. Each repair is journaled in the ledger with its reason and counted
(``saga_reconciliation_repairs_total``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from orchestrator.activities.accounts import AccountActivities
    from orchestrator.activities.provider import ProviderActivities
    from orchestrator.activities.reconcile import ReconcileActivities
    from orchestrator.models import (
        ACCOUNTS_QUEUE,
        ExecutionFacts,
        LedgerDebit,
        ProviderCharge,
        ReconcileReport,
        ReconcileRequest,
        RepairRequest,
        VoidRequest,
    )
    from orchestrator.workflows.payment import ACCOUNT_CALL, PROVIDER_CALL

CALL = timedelta(seconds=30)
RETRY = RetryPolicy(maximum_interval=timedelta(seconds=10), maximum_attempts=5)
LIVE = ("authorized",)
#: An execution closed this recently may have an activity attempt still in flight that moves
#: money (a debit, refund, charge or void runs at most its start-to-close timeout, and the worker
#: cancels it then): its repairs wait.
SETTLE_AFTER_CLOSE = max(ACCOUNT_CALL, PROVIDER_CALL) + timedelta(seconds=5)
SETTLE_AFTER_CLOSE_PATCH = "settle-after-close"


def plan_repairs(
    debits: list[LedgerDebit],
    charges: list[ProviderCharge],
    executions: dict[str, ExecutionFacts],
    now: datetime,
    grace: timedelta,
    settle: timedelta = timedelta(0),
) -> tuple[list[RepairRequest], list[str]]:
    """The repairs to make and the payments only a person can settle (captured charges).

    An execution closed less than ``settle`` ago is left alone: an activity attempt it left in
    flight (a terminated saga's charge) may still reach the ledger or the provider.
    """
    repairs: list[RepairRequest] = []
    review: list[str] = []
    captured = {c.payment_id for c in charges if c.status == "captured"}

    def settled_elsewhere(payment_id: str) -> ExecutionFacts | None:
        """The execution if it ended without succeeding, else None (running, succeeded, unknown)."""
        facts = executions.get(payment_id)
        if facts is None or facts.status in ("RUNNING", "NOT_FOUND", "UNKNOWN"):
            return None
        if facts.status == "COMPLETED" and facts.state == "succeeded":
            return None
        if facts.closed_at and now - datetime.fromisoformat(facts.closed_at) < settle:
            return None
        return facts

    for debit in debits:
        facts = settled_elsewhere(debit.payment_id)
        if facts is None or now - datetime.fromisoformat(debit.created_at) < grace:
            continue
        if debit.payment_id in captured:
            continue  # the provider kept the money: refunding the ledger too would create money
        repairs.append(
            RepairRequest(
                debit.payment_id,
                "refund",
                f"execution {facts.status} as {facts.state or 'unknown'} with its debit unrefunded",
                facts.status,
            )
        )
    for charge in charges:
        facts = settled_elsewhere(charge.payment_id)
        if facts is None:
            continue
        if charge.status in LIVE:
            repairs.append(
                RepairRequest(
                    charge.payment_id,
                    "void",
                    f"execution {facts.status} as {facts.state or 'unknown'} with a live charge",
                    facts.status,
                )
            )
        elif charge.status == "captured":
            review.append(charge.payment_id)
    return repairs, review


def settling(executions: dict[str, ExecutionFacts], now: datetime, settle: timedelta) -> list[str]:
    """Payments whose execution closed without succeeding less than ``settle`` ago: their
    repairs wait for the next pass."""
    return sorted(
        f.payment_id
        for f in executions.values()
        if f.closed_at
        and f.status not in ("RUNNING", "NOT_FOUND", "UNKNOWN")
        and not (f.status == "COMPLETED" and f.state == "succeeded")
        and now - datetime.fromisoformat(f.closed_at) < settle
    )


@workflow.defn
class ReconcileWorkflow:
    """One reconciliation pass."""

    @workflow.run
    async def run(self, request: ReconcileRequest) -> ReconcileReport:
        """Read the three sources, plan, and (unless a dry run) repair."""
        debits = await workflow.execute_activity_method(
            AccountActivities.list_unrefunded_debits,
            task_queue=ACCOUNTS_QUEUE,
            start_to_close_timeout=CALL,
            retry_policy=RETRY,
        )
        charges = await workflow.execute_activity_method(
            ReconcileActivities.list_provider_charges,
            start_to_close_timeout=CALL,
            retry_policy=RETRY,
        )
        live = {c.payment_id for c in charges if c.status in (*LIVE, "captured")}
        ids = sorted({d.payment_id for d in debits} | live)
        facts = await workflow.execute_activity_method(
            ReconcileActivities.describe_executions,
            ids,
            start_to_close_timeout=CALL,
            retry_policy=RETRY,
        )
        executions = {f.payment_id: f for f in facts}
        settle = SETTLE_AFTER_CLOSE if workflow.patched(SETTLE_AFTER_CLOSE_PATCH) else timedelta(0)
        planned, review = plan_repairs(
            debits,
            charges,
            executions,
            workflow.now(),
            timedelta(seconds=request.grace_s),
            settle,
        )
        report = ReconcileReport(
            planned=planned,
            review=review,
            dry_run=request.dry_run,
            settling=settling(executions, workflow.now(), settle),
        )
        if request.dry_run:
            return report
        for repair in planned:
            if repair.kind == "void":
                await workflow.execute_activity_method(
                    ProviderActivities.void_charge,
                    VoidRequest(repair.payment_id),
                    start_to_close_timeout=CALL,
                    retry_policy=RETRY,
                )
            # The refund itself, or the journal entry of the void just made.
            journal = (
                AccountActivities.journal_repair
                if repair.kind == "void"
                else AccountActivities.repair_refund
            )
            result = await workflow.execute_activity_method(
                journal,
                repair,
                task_queue=ACCOUNTS_QUEUE,
                start_to_close_timeout=CALL,
                retry_policy=RETRY,
            )
            report.repaired.append(result)
        return report
