"""One reconciler pass against fake services (the real activity names), in virtual time.

Each test failed on the pass before ``careful-pass`` (issue 34):

- item 6: it refunded before it voided, so a charge captured between its read and the void left
  the debit refunded *and* the money at the merchant (and the refused void failed the pass);
- item 9: one failing repair failed the whole pass, so nothing was settled, and executions
  Temporal forgot (``NOT_FOUND``) stayed unsettled for ever;
- item 5: it read the money before it described the executions.

and on the pass before ``late-charges`` (item 7): it settled a failed payment whose charge the
provider had never shown, so a charge landing later was never looked at, and it could only list
a late capture for review.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from temporalio import activity
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from orchestrator.activities.provider import VOID_REJECTED
from orchestrator.models import (
    ACCOUNTS_QUEUE,
    NOTIFICATIONS_QUEUE,
    ChargeRefundRequest,
    ChargeRefundResult,
    ExecutionFacts,
    LedgerDebit,
    NotificationRequest,
    NotificationResult,
    ProviderCharge,
    ReconcileReport,
    ReconcileRequest,
    RepairRequest,
    RepairResult,
    VoidRequest,
    VoidResult,
)
from orchestrator.workflows.reconcile import ReconcileWorkflow

LONG_AGO = "2020-01-01T00:00:00+00:00"


@dataclass
class FakeMoney:
    """A ledger, a provider and Temporal's view, as the reconciler's activities see them."""

    debits: list[LedgerDebit]
    charges: list[ProviderCharge]
    facts: dict[str, ExecutionFacts]
    captured_before_void: set[str] = field(default_factory=set)
    refund_fails: set[str] = field(default_factory=set)
    calls: list[str] = field(default_factory=list)
    refunded: list[str] = field(default_factory=list)
    voided: list[str] = field(default_factory=list)
    settled: list[str] = field(default_factory=list)
    refunded_at_provider: list[str] = field(default_factory=list)
    undecided: list[ExecutionFacts] = field(default_factory=list)
    """What Temporal's visibility lists as cut short (``list_undecided_executions``)."""
    notices: list[NotificationRequest] = field(default_factory=list)

    @activity.defn(name="list_unsettled_debits")
    async def list_unsettled_debits(self) -> list[LedgerDebit]:
        self.calls.append("ledger")
        return self.debits

    @activity.defn(name="read_provider_charges")
    async def read_provider_charges(self, payment_ids: list[str]) -> list[ProviderCharge]:
        self.calls.append("provider")
        return [c for c in self.charges if c.payment_id in payment_ids]

    @activity.defn(name="describe_executions")
    async def describe_executions(self, payment_ids: list[str]) -> list[ExecutionFacts]:
        self.calls.append("describe")
        return [self.facts[p] for p in payment_ids]

    @activity.defn(name="void_charge")
    async def void_charge(self, request: VoidRequest) -> VoidResult:
        if request.payment_id in self.captured_before_void:
            raise ApplicationError("captured", type=VOID_REJECTED, non_retryable=True)
        self.voided.append(request.payment_id)
        return VoidResult(voided=True)

    @activity.defn(name="list_undecided_executions")
    async def list_undecided_executions(self, since: str) -> list[ExecutionFacts]:
        return self.undecided

    @activity.defn(name="not_settled")
    async def not_settled(self, payment_ids: list[str]) -> list[str]:
        return [p for p in payment_ids if p not in self.settled]

    @activity.defn(name="refund_charge")
    async def refund_charge(self, request: ChargeRefundRequest) -> ChargeRefundResult:
        self.refunded_at_provider.append(request.payment_id)
        return ChargeRefundResult(refunded=True)

    @activity.defn(name="repair_refund")
    async def repair_refund(self, request: RepairRequest) -> RepairResult:
        if request.payment_id in self.refund_fails:
            raise ApplicationError("the ledger refused", type="Broken", non_retryable=True)
        self.refunded.append(request.payment_id)
        return RepairResult(request.payment_id, "refund", done=True)

    @activity.defn(name="journal_repair")
    async def journal_repair(self, request: RepairRequest) -> RepairResult:
        return RepairResult(request.payment_id, request.kind, done=True)

    @activity.defn(name="mark_settled")
    async def mark_settled(self, payment_ids: list[str]) -> int:
        self.settled.extend(payment_ids)
        return len(payment_ids)

    @activity.defn(name="send_notification")
    async def send_notification(self, request: NotificationRequest) -> NotificationResult:
        self.notices.append(request)
        return NotificationResult(request.notification_id, request.channel)

    async def pass_(self, env: WorkflowEnvironment) -> ReconcileReport:
        """Run one pass; its report."""
        payments_side: list[Any] = [
            self.read_provider_charges,
            self.describe_executions,
            self.void_charge,
            self.refund_charge,
            self.list_undecided_executions,
        ]
        accounts_side: list[Any] = [
            self.list_unsettled_debits,
            self.not_settled,
            self.repair_refund,
            self.journal_repair,
            self.mark_settled,
        ]
        queue = f"payments-{uuid.uuid4().hex[:8]}"
        async with (
            Worker(
                env.client,
                task_queue=queue,
                workflows=[ReconcileWorkflow],
                activities=payments_side,
            ),
            Worker(env.client, task_queue=ACCOUNTS_QUEUE, activities=accounts_side),
            Worker(env.client, task_queue=NOTIFICATIONS_QUEUE, activities=[self.send_notification]),
        ):
            return await env.client.execute_workflow(
                ReconcileWorkflow.run,
                ReconcileRequest(),
                id=f"reconcile-{uuid.uuid4().hex[:8]}",
                task_queue=queue,
                execution_timeout=timedelta(minutes=10),
            )


def terminated(payment_id: str) -> ExecutionFacts:
    return ExecutionFacts(payment_id, "TERMINATED", "processing", LONG_AGO)


def debit(payment_id: str) -> LedgerDebit:
    return LedgerDebit(payment_id, "alice", 100, LONG_AGO)


def authorized(payment_id: str) -> ProviderCharge:
    return ProviderCharge(payment_id, f"ch_{payment_id}", 100, "authorized")


async def test_a_charge_captured_before_the_void_keeps_its_debit_for_review(
    env: WorkflowEnvironment,
) -> None:
    money = FakeMoney(
        [debit("c"), debit("ok")],
        [authorized("c"), authorized("ok")],
        {"c": terminated("c"), "ok": terminated("ok")},
        captured_before_void={"c"},
    )
    report = await money.pass_(env)
    assert money.refunded == ["ok"] and money.voided == ["ok"]
    assert report.review == ["c"] and "c" not in money.settled


async def test_one_failing_repair_does_not_stop_the_others(env: WorkflowEnvironment) -> None:
    money = FakeMoney(
        [debit("bad"), debit("good")],
        [],
        {"bad": terminated("bad"), "good": terminated("good")},
        refund_fails={"bad"},
    )
    try:
        report = await money.pass_(env)
    except WorkflowFailureError as err:
        raise AssertionError(f"the pass failed: {err.cause}") from None
    assert money.refunded == ["good"] and report.failed == ["bad"]


async def test_payments_temporal_forgot_are_settled_or_sent_to_review(
    env: WorkflowEnvironment,
) -> None:
    money = FakeMoney(
        [debit("kept"), debit("lost"), LedgerDebit("back", "alice", 100, LONG_AGO, True)],
        [authorized("kept")],
        {p: ExecutionFacts(p, "NOT_FOUND", None) for p in ("kept", "lost", "back")},
    )
    report = await money.pass_(env)
    assert sorted(money.settled) == ["back", "kept"]  # a success's money, or given back
    assert report.review == ["lost"] and money.refunded == [] and money.voided == []


async def test_the_executions_are_described_before_the_money_is_read(
    env: WorkflowEnvironment,
) -> None:
    money = FakeMoney([debit("t")], [authorized("t")], {"t": terminated("t")})
    report = await money.pass_(env)
    assert money.calls == ["ledger", "describe", "ledger", "provider"]
    assert report.described_at is not None and money.voided == ["t"]


async def test_a_payment_that_ended_undecided_is_notified_once_its_money_settles(
    env: WorkflowEnvironment,
) -> None:
    """Item 8: a terminated payment's user was never told. The pass that settles it sends the
    notice: ``failed``/``terminated`` where the saga had not decided, ``succeeded`` where it had
    (terminated at notify); a payment whose saga completed is not notified again."""
    refunded = LedgerDebit("t", "alice", 100, LONG_AGO, refunded=True)
    money = FakeMoney(
        [refunded, debit("n"), debit("done")],
        [authorized("n"), authorized("done")],
        {
            "t": terminated("t"),
            "n": ExecutionFacts("n", "TERMINATED", "succeeded", LONG_AGO),
            "done": ExecutionFacts("done", "COMPLETED", "succeeded", LONG_AGO),
        },
    )
    report = await money.pass_(env)
    told = {(n.payment_id, n.state, n.reason) for n in money.notices}
    assert told == {("t", "failed", "terminated"), ("n", "succeeded", None)}
    assert sorted(report.notified) == ["n", "t"] and sorted(money.settled) == ["done", "n", "t"]


async def test_a_late_capture_is_refunded_at_the_provider_and_counted(
    env: WorkflowEnvironment,
) -> None:
    refunded = LedgerDebit("late", "alice", 100, LONG_AGO, refunded=True)
    money = FakeMoney(
        [refunded],
        [ProviderCharge("late", "ch_late", 100, "captured")],
        {"late": ExecutionFacts("late", "COMPLETED", "cancelled", LONG_AGO)},
    )
    report = await money.pass_(env)
    assert money.refunded_at_provider == ["late"] and money.refunded == []
    assert report.late_charges == ["late"] and report.review == []
    assert [(r.kind, r.done) for r in report.repaired] == [("refund_charge", True)]


async def test_a_failed_payment_stays_unsettled_while_its_charge_may_still_land(
    env: WorkflowEnvironment,
) -> None:
    just_now = (await env.get_current_time()).isoformat()  # the server's skipped clock
    money = FakeMoney(
        [LedgerDebit(p, "alice", 100, LONG_AGO, refunded=True) for p in ("new", "old")],
        [],
        {
            "new": ExecutionFacts("new", "COMPLETED", "cancelled", just_now),
            "old": ExecutionFacts("old", "COMPLETED", "cancelled", LONG_AGO),
        },
    )
    report = await money.pass_(env)
    assert report.watching == ["new"] and money.settled == ["old"]


async def test_a_payment_cut_short_with_nothing_in_the_ledger_is_told_once(
    env: WorkflowEnvironment,
) -> None:
    """Item 8: terminated before its debit (or at the notice of a refused one), a payment is in
    no debit list, so no pass told its user. Visibility finds it now; it is told and settled,
    and a payment already settled, or with a debit (the debit path's), is not told here."""
    long_ago = ExecutionFacts("early", "TERMINATED", "pending", LONG_AGO, "alice")
    refused = ExecutionFacts("refused", "TERMINATED", "failed", LONG_AGO, "bob")
    money = FakeMoney(
        [debit("t")],
        [],
        {"t": terminated("t")},
        undecided=[
            long_ago,
            refused,
            ExecutionFacts("t", "TERMINATED", "processing", LONG_AGO, "alice"),
            ExecutionFacts("done", "TERMINATED", "pending", LONG_AGO, "alice"),
        ],
        settled=["done"],
    )
    report = await money.pass_(env)
    told = {(n.payment_id, n.user_id, n.state, n.reason) for n in money.notices}
    assert told == {("early", "alice", "failed", "terminated"), ("refused", "bob", "failed", None)}
    assert sorted(report.notified) == ["early", "refused"]
    assert {"early", "refused"} <= set(money.settled)
