"""ReconcileWorkflow: repairs what no saga will (task queue ``payments``).

A saga compensates every path it sees, but ``temporal workflow terminate``, an execution
timeout, or a provider charge that lands after its void (a strict provider has no tombstones)
leave money where no running saga will move it. Run by a Temporal Schedule (every minute by
default, :mod:`orchestrator.reconcile`) or on demand (``saga reconcile``), the reconciler reads
three sources and plans repairs with :func:`plan_repairs`, a pure function:

- the ledger's debits of payments it has not settled yet (account service),
- the provider's charge of each of those payments (provider API),
- each of those payments' execution: close status and ``PaymentStatus`` (Temporal).

A payment is *settled* (:func:`settled_payments`) once its execution closed long enough ago that
nothing it left in flight can still land, and the pass that saw it planned no repair and no
review for it: its money is where it will stay. The ledger keeps the mark, and later passes skip
the payment, so a pass reads what is recent or unresolved, not every payment ever made (before
the ``settled-payments`` patch a pass read every debit and charge ever made: its cost grew with
the stack's age, and its activity results passed Temporal's 2 MiB payload limit at about 15,000
payments, after which no pass could finish).

It leaves running executions alone. A debit of a payment whose execution did not end
``succeeded`` is refunded (same idempotency key as the saga's refund, so the two can never
both happen); a live authorization of such a payment is voided; a capture of such a payment is
listed for review. Each repair is journaled in the ledger with its reason and counted
(``saga_reconciliation_repairs_total``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from orchestrator.activities.accounts import AccountActivities
    from orchestrator.activities.notifications import (
        CHANNEL_REFUSED,
        NotificationActivities,
        repair_notice_id,
    )
    from orchestrator.activities.provider import VOID_REJECTED, ProviderActivities
    from orchestrator.activities.reconcile import ReconcileActivities
    from orchestrator.models import (
        ACCOUNTS_QUEUE,
        NOTIFICATIONS_QUEUE,
        ChargeRefundRequest,
        ExecutionFacts,
        LedgerDebit,
        NotificationRequest,
        PaymentState,
        ProviderCharge,
        Reason,
        ReconcileReport,
        ReconcileRequest,
        RepairRequest,
        VoidRequest,
    )
    from orchestrator.workflows import metrics
    from orchestrator.workflows.payment import ACCOUNT_CALL, PROVIDER_CALL, error_type

CALL = timedelta(seconds=30)
RETRY = RetryPolicy(maximum_interval=timedelta(seconds=10), maximum_attempts=5)
#: A notice is tried twice in a pass: one that fails leaves its payment for the next pass, so a
#: notification outage costs a pass seconds, not its whole retry budget per payment.
NOTICE_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=2)
LIVE = ("authorized",)
#: An execution closed this recently may have an activity attempt still in flight that moves
#: money (a debit, refund, charge or void runs at most its start-to-close timeout, and the worker
#: cancels it then): its repairs wait.
SETTLE_AFTER_CLOSE = max(ACCOUNT_CALL, PROVIDER_CALL) + timedelta(seconds=5)
SETTLE_AFTER_CLOSE_PATCH = "settle-after-close"
#: Passes read only unsettled payments and mark the ones they settle (module docstring).
SETTLED_PAYMENTS_PATCH = "settled-payments"
#: A payment whose saga recorded ``succeeded`` keeps its money, however its execution closed.
KEEP_SUCCEEDED_PATCH = "keep-succeeded"
#: The pass describes the executions before it reads the money, voids before it refunds (and
#: refunds nothing whose void was refused), repairs each payment on its own (one failure no
#: longer fails the pass), and settles what Temporal forgot (``NOT_FOUND``).
CAREFUL_PASS_PATCH = "careful-pass"
#: A charge attempt left unanswered can land at the provider long after its saga gave up (a
#: strict provider keeps no tombstone of the void that found nothing). A payment that did not
#: succeed and whose charge the provider never showed stays unsettled for the request's
#: ``late_charge_horizon_s``; a late charge is counted, and voided, or refunded at the
#: provider once captured (issue 34, item 7).
LATE_CHARGES_PATCH = "late-charges"
#: A payment terminated (or timed out) with no debit in the ledger (before its debit, or at the
#: notice of a refused one) is in no debit list: the pass finds it through Temporal's
#: visibility, notifies its user and settles it (issue 34, item 8). It looks back this far for
#: such executions (past any retention of closed ones).
UNDEBITED_NOTICES_PATCH = "undebited-notices"
UNDEBITED_LOOKBACK = timedelta(days=3)
#: A notice whose channel the notification service refuses goes by the other channel, as the
#: saga's does (payment.NOTICE_FALLBACK_PATCH); refused on both, it cannot be delivered, and
#: the payment is settled without it rather than retried every pass for ever.
NOTICE_FALLBACK_PATCH = "notice-channel-fallback"


def plan_repairs(
    debits: list[LedgerDebit],
    charges: list[ProviderCharge],
    executions: dict[str, ExecutionFacts],
    now: datetime,
    grace: timedelta,
    settle: timedelta = timedelta(0),
    keep_succeeded: bool = True,
    refund_captures: bool = False,
) -> tuple[list[RepairRequest], list[str]]:
    """The repairs to make and the payments only a person can settle (captured charges).

    An execution closed less than ``settle`` ago is left alone: an activity attempt it left in
    flight (a terminated saga's charge) may still reach the ledger or the provider. With
    ``keep_succeeded``, a payment whose ``PaymentStatus`` is ``succeeded`` is left alone too,
    whatever its close status: the saga sets it once the charge is confirmed and fraud passed,
    before the notice, so an execution terminated or cancelled at notify had already succeeded
    (the API answers ``succeeded``); reversing it would take back money the user was told is
    paid. (Before the ``keep-succeeded`` patch such a payment was refunded and voided.)

    A captured charge of such a payment goes to review while its debit is kept (the merchant
    has the money the user paid). With ``refund_captures``, one whose debit was refunded (the
    charge landed after the saga gave up) is refunded at the provider: keeping both would
    create money.
    """
    repairs: list[RepairRequest] = []
    review: list[str] = []
    captured = {c.payment_id for c in charges if c.status == "captured"}
    kept = {d.payment_id for d in debits}

    def settled_elsewhere(payment_id: str) -> ExecutionFacts | None:
        """The execution if it ended without succeeding, else None (running, succeeded, unknown)."""
        facts = executions.get(payment_id)
        if facts is None or facts.status in ("RUNNING", "NOT_FOUND", "UNKNOWN"):
            return None
        if facts.state == "succeeded" and (keep_succeeded or facts.status == "COMPLETED"):
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
        elif charge.status == "captured" and refund_captures and charge.payment_id not in kept:
            repairs.append(
                RepairRequest(
                    charge.payment_id,
                    "refund_charge",
                    f"execution {facts.status} as {facts.state or 'unknown'} with its debit"
                    " refunded and its charge captured",
                    facts.status,
                )
            )
        elif charge.status == "captured":
            review.append(charge.payment_id)
    return repairs, review


def late_charges(charges: list[ProviderCharge], executions: dict[str, ExecutionFacts]) -> list[str]:
    """Payments whose saga completed without succeeding while the provider holds their charge:
    the saga voids every charge it knows of, so this one landed after its worker gave up."""
    return sorted(
        c.payment_id
        for c in charges
        if c.status in (*LIVE, "captured")
        and (facts := executions.get(c.payment_id)) is not None
        and facts.status == "COMPLETED"
        and facts.state != "succeeded"
    )


def watching(
    charges: list[ProviderCharge],
    executions: dict[str, ExecutionFacts],
    now: datetime,
    horizon: timedelta,
) -> list[str]:
    """Payments whose execution closed without succeeding less than ``horizon`` ago and whose
    charge the provider has never shown: an attempt of theirs left unanswered may still land,
    so they stay unsettled."""
    shown = {c.payment_id for c in charges}
    return [p for p in _failed_within(executions, now, horizon) if p not in shown]


def settling(executions: dict[str, ExecutionFacts], now: datetime, settle: timedelta) -> list[str]:
    """Payments whose execution closed without succeeding less than ``settle`` ago: their
    repairs wait for the next pass."""
    return _failed_within(executions, now, settle)


def _failed_within(
    executions: dict[str, ExecutionFacts], now: datetime, window: timedelta
) -> list[str]:
    """Payments whose execution closed without succeeding less than ``window`` ago, sorted."""
    return sorted(
        f.payment_id
        for f in executions.values()
        if f.closed_at
        and f.status not in ("RUNNING", "NOT_FOUND", "UNKNOWN")
        and f.state != "succeeded"
        and now - datetime.fromisoformat(f.closed_at) < window
    )


def settled_payments(
    debits: list[LedgerDebit],
    executions: dict[str, ExecutionFacts],
    planned: list[RepairRequest],
    review: list[str],
    now: datetime,
    grace: timedelta,
    settle: timedelta,
) -> list[str]:
    """The payments this pass settles: execution closed at least ``settle`` ago, debit older
    than ``grace`` (a younger one is not refunded yet, whatever its execution did), and no
    repair planned and nothing for review. A repair planned now is made by this pass; the next
    pass, finding nothing to do, settles the payment."""
    unresolved = {r.payment_id for r in planned} | set(review)
    settled = []
    for debit in debits:
        facts = executions.get(debit.payment_id)
        if facts is None or facts.payment_id in unresolved or not facts.closed_at:
            continue
        if facts.status in ("RUNNING", "NOT_FOUND", "UNKNOWN"):
            continue
        if now - datetime.fromisoformat(facts.closed_at) < settle:
            continue
        if now - datetime.fromisoformat(debit.created_at) < grace:
            continue
        settled.append(debit.payment_id)
    return sorted(set(settled))


def forgotten(
    debits: list[LedgerDebit], charges: list[ProviderCharge], executions: dict[str, ExecutionFacts]
) -> tuple[list[str], list[str]]:
    """Payments whose execution Temporal no longer knows (``NOT_FOUND``: deleted after its
    retention), split into those to settle and those for a person.

    No saga or repair can move their money any more, and how they ended is gone with them. Where
    the money agrees with an outcome (the debit refunded, or the charge held at the provider,
    as a success leaves it) the payment is settled, so unsettled passes stop re-reading it;
    a debit kept with no charge held is money the user may have lost: a person looks.
    """
    held = {c.payment_id for c in charges if c.status in (*LIVE, "captured")}
    settle, review = [], []
    for debit in debits:
        facts = executions.get(debit.payment_id)
        if facts is None or facts.status != "NOT_FOUND":
            continue
        if debit.refunded or debit.payment_id in held:
            settle.append(debit.payment_id)
        else:
            review.append(debit.payment_id)
    return sorted(set(settle)), sorted(set(review))


#: The close statuses of an execution that ended without its saga deciding or notifying.
UNDECIDED = ("TERMINATED", "TIMED_OUT", "CANCELED", "FAILED")


def repair_notice(user_id: str, facts: ExecutionFacts) -> NotificationRequest:
    """The notice of a payment whose execution ended undecided, sent once its money is settled:
    its final state (``succeeded`` if its saga had recorded it, the terminal state it recorded,
    else ``failed`` with reason ``terminated``), as the API shows it."""
    state = PaymentState.ended_undecided(facts.state)
    decided = state.value == facts.state
    return NotificationRequest(
        repair_notice_id(facts.payment_id),
        facts.payment_id,
        user_id,
        "email" if state is PaymentState.SUCCEEDED else "sms",
        state.value,
        None if decided else Reason.TERMINATED.value,
    )


def _by_payment(repairs: Iterable[RepairRequest]) -> dict[str, list[RepairRequest]]:
    grouped: dict[str, list[RepairRequest]] = {}
    for repair in repairs:
        grouped.setdefault(repair.payment_id, []).append(repair)
    return grouped


@workflow.defn
class ReconcileWorkflow:
    """One reconciliation pass."""

    @workflow.run
    async def run(self, request: ReconcileRequest) -> ReconcileReport:
        """Read the three sources, plan, and (unless a dry run) repair."""
        if workflow.patched(CAREFUL_PASS_PATCH):
            return await self._careful_pass(request)
        incremental = workflow.patched(SETTLED_PAYMENTS_PATCH)
        if incremental:
            debits, charges = await self._unsettled()
        else:
            debits, charges = await self._everything()
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
        grace = timedelta(seconds=request.grace_s)
        unrefunded = [d for d in debits if not d.refunded]
        planned, review = plan_repairs(
            unrefunded,
            charges,
            executions,
            workflow.now(),
            grace,
            settle,
            keep_succeeded=workflow.patched(KEEP_SUCCEEDED_PATCH),
        )
        # Settled only by a pass that makes its repairs (the next one then finds none).
        settled = (
            settled_payments(debits, executions, planned, review, workflow.now(), grace, settle)
            if incremental and not request.dry_run
            else []
        )
        report = ReconcileReport(
            planned=planned,
            review=review,
            dry_run=request.dry_run,
            settling=settling(executions, workflow.now(), settle),
            examined=len(ids) if incremental else 0,
            settled=settled,
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
        if settled:
            await workflow.execute_activity_method(
                AccountActivities.mark_settled,
                settled,
                task_queue=ACCOUNTS_QUEUE,
                start_to_close_timeout=CALL,
                retry_policy=RETRY,
            )
        return report

    async def _careful_pass(self, request: ReconcileRequest) -> ReconcileReport:
        """The pass since ``careful-pass``.

        1. Which payments are unsettled (the ledger), then their executions (Temporal), then
           their money (the ledger and the provider, read after the describe). Only executions
           closed at least :data:`SETTLE_AFTER_CLOSE` before the describe are repaired, so a
           saga that ended between the reads is seen with the money it left, not stale money.
        2. Per payment, on its own: the void first, then the refund only if the void answered
           (voided, or nothing held); a void refused (captured meanwhile) sends the payment to
           review with its debit kept. A failing repair is counted and the pass goes on.
        3. Settles what it saw settled, and what Temporal forgot (:func:`forgotten`).
        """
        unsettled = await self._call(AccountActivities.list_unsettled_debits, queue=ACCOUNTS_QUEUE)
        described_at = workflow.now()
        facts = await self._call(
            ReconcileActivities.describe_executions, sorted({d.payment_id for d in unsettled})
        )
        executions = {f.payment_id: f for f in facts}
        debits, charges = await self._unsettled()
        debited = {d.payment_id for d in debits}
        debits = [d for d in debits if d.payment_id in executions]  # newer ones: next pass
        grace = timedelta(seconds=request.grace_s)
        late = workflow.patched(LATE_CHARGES_PATCH)
        planned, review = plan_repairs(
            [d for d in debits if not d.refunded],
            charges,
            executions,
            described_at,
            grace,
            SETTLE_AFTER_CLOSE,
            refund_captures=late,
        )
        lost_sight, lost_money = forgotten(debits, charges, executions)
        horizon = timedelta(seconds=request.late_charge_horizon_s)
        report = ReconcileReport(
            planned=planned,
            review=sorted({*review, *lost_money}),
            dry_run=request.dry_run,
            settling=settling(executions, described_at, SETTLE_AFTER_CLOSE),
            examined=len(executions),
            described_at=described_at.isoformat(),
            late_charges=late_charges(charges, executions) if late else [],
            watching=watching(charges, executions, described_at, horizon) if late else [],
        )
        if request.dry_run:
            return report
        status = {c.payment_id: c.status for c in charges}
        for payment_id in report.late_charges:
            metrics.RECONCILE_LATE_CHARGES.add(status=status[payment_id])
        for payment_id, repairs in _by_payment(planned).items():
            try:
                await self._repair(payment_id, repairs, report)
            except ActivityError as err:
                report.failed.append(payment_id)
                metrics.RECONCILE_REPAIRS_FAILED.add()
                workflow.logger.warning("repair of %s failed: %s", payment_id, err.cause)
        for _ in report.review:
            metrics.RECONCILE_REVIEW.add()
        unresolved = {*report.failed, *report.review, *report.watching}
        settled = settled_payments(
            debits,
            executions,
            planned,
            sorted(unresolved),
            described_at,
            grace,
            SETTLE_AFTER_CLOSE,
        )
        settling_now = sorted({*settled, *lost_sight} - unresolved)
        notified = await self._notify_undecided(settling_now, debits, executions, report)
        if workflow.patched(UNDEBITED_NOTICES_PATCH):
            notified += await self._notify_undebited(described_at, debited, report)
        report = replace(
            report, settled=[p for p in settling_now if p not in report.failed], notified=notified
        )
        if report.settled:
            await self._call(AccountActivities.mark_settled, report.settled, queue=ACCOUNTS_QUEUE)
        return report

    async def _notify_undecided(
        self,
        settling: list[str],
        debits: list[LedgerDebit],
        executions: dict[str, ExecutionFacts],
        report: ReconcileReport,
    ) -> list[str]:
        """Send the notice of each payment this pass settles whose execution ended undecided
        (terminated, timed out): no saga will (issue 34, item 8). A notice that fails leaves
        its payment unsettled and ``failed``, so the next pass sends it again."""
        users = {d.payment_id: d.user_id for d in debits}
        notified = []
        for payment_id in settling:
            facts = executions[payment_id]
            if facts.status in UNDECIDED and await self._notice(users[payment_id], facts, report):
                notified.append(payment_id)
        return notified

    async def _notify_undebited(
        self, described_at: datetime, with_debit: set[str], report: ReconcileReport
    ) -> list[str]:
        """Notify and settle the payments whose execution was cut short (terminated, timed out)
        with no debit in the ledger: terminated before or during the debit, or after a refused
        one, at its notice. They are in no debit list, so only Temporal's visibility finds them
        (``undebited-notices``)."""
        since = described_at - UNDEBITED_LOOKBACK
        undecided = await self._call(
            ReconcileActivities.list_undecided_executions, since.isoformat()
        )
        closed = [
            f
            for f in undecided
            if f.payment_id not in with_debit
            and f.closed_at
            and described_at - datetime.fromisoformat(f.closed_at) >= SETTLE_AFTER_CLOSE
        ]
        if not closed:
            return []
        unsettled = set(
            await self._call(
                AccountActivities.not_settled,
                [f.payment_id for f in closed],
                queue=ACCOUNTS_QUEUE,
            )
        )
        told = [
            f.payment_id
            for f in closed
            if f.payment_id in unsettled
            and f.user_id is not None
            and await self._notice(f.user_id, f, report)
        ]
        if told:
            # Settled: a debit attempt that still lands for one of them is refused.
            await self._call(AccountActivities.mark_settled, told, queue=ACCOUNTS_QUEUE)
        return told

    async def _notice(self, user_id: str, facts: ExecutionFacts, report: ReconcileReport) -> bool:
        """Send one undecided payment's notice; a failure is counted and left for the next
        pass (the payment stays unsettled). A refused channel is a refusal, not a failure:
        the other channel is tried, and with both refused there is nothing left to try."""
        notice = repair_notice(user_id, facts)
        try:
            await self._send_notice(notice)
        except ActivityError as err:
            if error_type(err) == CHANNEL_REFUSED and workflow.patched(NOTICE_FALLBACK_PATCH):
                other = "sms" if notice.channel == "email" else "email"
                try:
                    await self._send_notice(replace(notice, channel=other))
                except ActivityError as again:
                    if error_type(again) != CHANNEL_REFUSED:
                        return self._notice_failed(facts, report, again)
                    workflow.logger.warning("no channel delivers %s's notice", facts.payment_id)
                return True
            return self._notice_failed(facts, report, err)
        return True

    async def _send_notice(self, notice: NotificationRequest) -> None:
        await self._call(
            NotificationActivities.send_notification,
            notice,
            queue=NOTIFICATIONS_QUEUE,
            retry=NOTICE_RETRY,
        )

    def _notice_failed(
        self, facts: ExecutionFacts, report: ReconcileReport, err: ActivityError
    ) -> bool:
        report.failed.append(facts.payment_id)
        metrics.RECONCILE_REPAIRS_FAILED.add()
        workflow.logger.warning("notice of %s failed: %s", facts.payment_id, err.cause)
        return False

    async def _repair(
        self, payment_id: str, repairs: list[RepairRequest], report: ReconcileReport
    ) -> None:
        """One payment's repairs: the void first; the refund only once nothing is held."""
        for repair in sorted(repairs, key=lambda r: r.kind != "void"):
            if repair.kind == "refund_charge":
                await self._call(ProviderActivities.refund_charge, ChargeRefundRequest(payment_id))
                journal = AccountActivities.journal_repair
            elif repair.kind == "void":
                try:
                    await self._call(ProviderActivities.void_charge, VoidRequest(payment_id))
                except ActivityError as err:
                    cause = err.cause
                    if isinstance(cause, ApplicationError) and cause.type == VOID_REJECTED:
                        # Captured since the read: the merchant has the money, so the debit
                        # stays and a person refunds it (refunding too would create money).
                        report.review.append(payment_id)
                        return
                    raise
                journal = AccountActivities.journal_repair
            else:
                journal = AccountActivities.repair_refund
            report.repaired.append(await self._call(journal, repair, queue=ACCOUNTS_QUEUE))

    async def _call(
        self,
        activity: Callable[..., Any],
        *args: Any,
        queue: str | None = None,
        retry: RetryPolicy = RETRY,
    ) -> Any:
        """One reconciler activity with the pass's timeout and retries (``retry``)."""
        return await workflow.execute_activity_method(
            activity,
            args=list(args),
            task_queue=queue,
            start_to_close_timeout=CALL,
            retry_policy=retry,
        )

    async def _unsettled(self) -> tuple[list[LedgerDebit], list[ProviderCharge]]:
        """Every debit of an unsettled payment (refunded or not), and those payments' charges."""
        debits = await workflow.execute_activity_method(
            AccountActivities.list_unsettled_debits,
            task_queue=ACCOUNTS_QUEUE,
            start_to_close_timeout=CALL,
            retry_policy=RETRY,
        )
        charges = await workflow.execute_activity_method(
            ReconcileActivities.read_provider_charges,
            sorted({d.payment_id for d in debits}),
            start_to_close_timeout=CALL,
            retry_policy=RETRY,
        )
        return debits, charges

    async def _everything(self) -> tuple[list[LedgerDebit], list[ProviderCharge]]:
        """Before ``settled-payments``: every unrefunded debit and every charge ever made."""
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
        return debits, charges
