"""Running the reconciler: the Temporal Schedule, an on-demand pass, and its report.

``saga up`` and the compose ``init`` create the schedule (every minute by default); the scenario
runner and ``saga reconcile`` run a pass on demand. See :mod:`orchestrator.workflows.reconcile`.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
)

from orchestrator.models import PAYMENTS_QUEUE, ReconcileReport, ReconcileRequest
from orchestrator.workflows.reconcile import SETTLE_AFTER_CLOSE, ReconcileWorkflow

SCHEDULE_ID = "saga-reconciler"
EVERY = timedelta(minutes=1)


async def ensure_schedule(client: Client, every: timedelta = EVERY) -> bool:
    """Create the reconciler's schedule; False if it already existed."""
    try:
        await client.create_schedule(
            SCHEDULE_ID,
            Schedule(
                action=ScheduleActionStartWorkflow(
                    ReconcileWorkflow.run,
                    ReconcileRequest(),
                    id="reconcile",
                    task_queue=PAYMENTS_QUEUE,
                ),
                spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)]),
                policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
            ),
        )
    except ScheduleAlreadyRunningError:
        return False
    return True


async def reconcile_now(client: Client, *, dry_run: bool = False) -> ReconcileReport:
    """Run one reconciliation pass and wait for its report."""
    return await client.execute_workflow(
        ReconcileWorkflow.run,
        ReconcileRequest(dry_run=dry_run),
        id=f"reconcile-now-{uuid.uuid4().hex[:12]}",
        task_queue=PAYMENTS_QUEUE,
        execution_timeout=timedelta(minutes=5),
    )


def successive(first: ReconcileReport, then: ReconcileReport) -> ReconcileReport:
    """Two passes as one report: what either planned, made, settled, notified or found late;
    what is still open (review, failed, settling, watching) as the later pass left it."""
    return replace(
        then,
        planned=[*first.planned, *then.planned],
        repaired=[*first.repaired, *then.repaired],
        settled=sorted({*first.settled, *then.settled}),
        notified=sorted({*first.notified, *then.notified}),
        late_charges=sorted({*first.late_charges, *then.late_charges}),
        examined=first.examined + then.examined,
    )


def render_report(report: ReconcileReport) -> str:
    """The report for people: one line per repair, then a count."""
    done = {(r.payment_id, r.kind) for r in report.repaired if r.done}
    lines = [f"reconciler ({'dry run' if report.dry_run else 'repairing'}):"]
    if report.described_at:
        lines.append(
            f"  executions described at {report.described_at}; the ledger and the provider"
            " read after it"
        )
    for repair in report.planned:
        outcome = ""
        if not report.dry_run:
            made = (repair.payment_id, repair.kind) in done
            outcome = " [done]" if made else " [already done]"
        lines.append(f"  {repair.kind} {repair.payment_id}: {repair.reason}{outcome}")
    for payment_id in report.review:
        lines.append(
            f"  review {payment_id}: captured at the provider, or forgotten by Temporal with its"
            " debit kept and no charge held; a person must settle it"
        )
    for payment_id in report.late_charges:
        lines.append(
            f"  late charge {payment_id}: the provider made it after the saga gave up; voided,"
            " or refunded at the provider once captured"
        )
    if report.watching:
        lines.append(
            f"  watching {len(report.watching)} payment(s) that did not succeed and whose charge"
            " the provider never showed: an unanswered attempt may still land, so they stay"
            " unsettled until the late-charge horizon passes"
        )
    for payment_id in report.notified:
        lines.append(f"  notified {payment_id}: its execution ended undecided; its user is told")
    for payment_id in report.failed:
        lines.append(f"  failed {payment_id}: its repair failed; the next pass tries again")
    for payment_id in report.settling:
        lines.append(
            f"  settling {payment_id}: closed less than {SETTLE_AFTER_CLOSE.seconds} s ago, work"
            " it left in flight may still land; the next pass repairs it"
        )
    if not report.planned and not report.review and not report.settling:
        lines.append("  nothing to repair")
    if not report.dry_run:
        lines.append(
            f"{report.examined} unsettled payment(s) examined, {len(report.settled)} settled now"
            " (later passes skip them)"
        )
    if report.dry_run:
        lines.append(f"{len(report.planned)} repair(s) would be made (dry run)")
    else:
        lines.append(f"{len(done)} repair(s) made")
    return "\n".join(lines)
