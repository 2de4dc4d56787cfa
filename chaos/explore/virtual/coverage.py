"""The saga's race table: the interleavings that matter, and which ones explored schedules reached.

Each cell is read from what the run did (the payment's timeline, its compensations, and whether
the world's interrupt landed while the named step was in flight), never from the plan alone: a
plan that aims a cancel at the refund reaches nothing if the payment never refunds.
"""

from __future__ import annotations

from chaos.explore.virtual.schedule import STEPS
from chaos.explore.virtual.world import ScheduleResult
from chaos.verdicts.oracle import LEDGER_REFUSALS

INTERRUPTS = {
    "cancel": "cancel signal",
    "temporal_cancel": "Temporal cancel",
    "terminate": "termination",
}
CALLBACK_CELLS = (
    "callback before the charge call returned",
    "callback after the charge returned, before the decision",
    "callback after the decision",
    "callback duplicated",
    "callback for another charge",
    "callback for another charge saying succeeded",
    "callback timer fired first",
)
FRAUD_CELLS = (
    "fraud verdict before the charge was accepted",
    "fraud verdict after the charge was accepted",
    "fraud rejected",
    "fraud check failed or timed out",
)
OTHER_CELLS = (
    "compensation failed and retried",
    "accounts outage past the retry budget",
    "velocity limit refused a concurrent payment",
    "void refused (captured): refund withheld for review",
    "Temporal cancel after the decision",
    "reconciler repaired a terminated payment",
    "charge made after its worker gave up",
    "late charge voided or refunded by the reconciler",
    "notice delivered after its first attempts failed",
    "notice's channel refused, delivered by the other",
    "terminated with nothing in the ledger, then told",
    "instance evicted mid-flight and rebuilt by replay",
    "an activity result and a cancel in one activation",
    "an activity result and a signal in one activation",
    "a provider or notification outage of hours outlived",
    "a healthy payment (no fault met) succeeded",
    "a healthy payment refused by the ledger",
    "workflow worker died mid-activation, its task retried",
    "debits decided by account workers whose clocks disagree",
    "a completed payment deleted, its retried request answered as the payment",
)
#: Steps the current saga can no longer be interrupted at: it validates inside the debit
#: (validated-debit), so only mutants of the older path have a validate_payment step.
UNREACHABLE_STEPS = ("validate_payment",)
TABLE: tuple[str, ...] = (
    *(
        f"{label} during {step}"
        for label in INTERRUPTS.values()
        for step in STEPS
        if step not in UNREACHABLE_STEPS
    ),
    *CALLBACK_CELLS,
    *FRAUD_CELLS,
    *OTHER_CELLS,
)
"""Every cell, in the order the report prints them."""


def race_cells(result: ScheduleResult) -> set[str]:
    """The cells one schedule's run reached."""
    reached: set[str] = set()
    if result.clocks_split:
        reached.add("debits decided by account workers whose clocks disagree")
    if result.replayed:
        reached.add("a completed payment deleted, its retried request answered as the payment")
    repaired = {r.payment_id for r in result.bundle.repairs}
    debited = {e.payment_id for e in result.bundle.entries if e.kind == "debit"}
    told = {str(n["payment_id"]) for n in result.bundle.notifications}
    charge_ids = {str(c["payment_id"]): str(c.get("charge_id", "")) for c in result.bundle.charges}
    for payment, plan in zip(result.bundle.payments, result.schedule.payments, strict=True):
        timeline = payment.api.get("timeline", [])
        events = [str(item["event"]) for item in timeline]
        if payment.payment_id in result.interrupted:
            reached.add(f"{INTERRUPTS[plan.interrupt]} during {plan.interrupt_at}")
        reached |= _callback_cells(events)
        reached |= _fraud_cells(events)
        fraud = payment.api.get("fraud")
        if isinstance(fraud, dict) and fraud.get("passed") is False:
            reached.add("fraud rejected")
        if "compensation_retrying:refund" in events or "compensation_retrying:void" in events:
            reached.add("compensation failed and retried")
        if "accounts_unavailable" in events or "debit_failed" in events:
            reached.add("accounts outage past the retry budget")
        if "velocity_limit" in events:
            reached.add("velocity limit refused a concurrent payment")
        if "void_rejected" in events:
            reached.add("void refused (captured): refund withheld for review")
        if any(
            e["event"] == "temporal_cancel" and str(e["detail"]).startswith("after")
            for e in timeline
        ):
            reached.add("Temporal cancel after the decision")
        if payment.terminated and payment.payment_id in repaired:
            reached.add("reconciler repaired a terminated payment")
        pid = payment.payment_id
        for kinds in result.mixed.get(pid, set()):
            if "resolve_activity" in kinds and "cancel_workflow" in kinds:
                reached.add("an activity result and a cancel in one activation")
            if "resolve_activity" in kinds and "signal_workflow" in kinds:
                reached.add("an activity result and a signal in one activation")
        hours = [o for o in (result.schedule.provider_outage, result.schedule.notify_outage) if o]
        if any(length >= 3600 for _, length in hours) and (
            any(e.startswith("compensation_retrying") for e in events)
            or "notification_delayed" in events
        ):
            reached.add("a provider or notification outage of hours outlived")
        if payment.healthy and payment.api.get("state") == "succeeded":
            reached.add("a healthy payment (no fault met) succeeded")
        if payment.healthy and payment.api.get("reason") in LEDGER_REFUSALS:
            reached.add("a healthy payment refused by the ledger")
        if pid in result.crashed:
            reached.add("workflow worker died mid-activation, its task retried")
        if pid in result.evicted:
            reached.add("instance evicted mid-flight and rebuilt by replay")
        if pid in result.late_charged:
            reached.add("charge made after its worker gave up")
            if pid in repaired:
                reached.add("late charge voided or refunded by the reconciler")
        if "notification_delayed" in events and "notified" in events:
            reached.add("notice delivered after its first attempts failed")
        if "notice_channel_refused" in events and "notified" in events:
            reached.add("notice's channel refused, delivered by the other")
        if payment.terminated and pid not in debited and pid in told:
            reached.add("terminated with nothing in the ledger, then told")
        if payment.execution is not None and any(
            c.status == "succeeded" and c.charge_id != charge_ids.get(pid)
            for c in payment.execution.callbacks
        ):
            reached.add("callback for another charge saying succeeded")
    return reached


def _before(events: list[str], first: str, second: str) -> bool:
    return first in events and (second not in events or events.index(first) < events.index(second))


def _callback_cells(events: list[str]) -> set[str]:
    cells = set()
    if "callback_held" in events:
        cells.add("callback before the charge call returned")
    if "callback_received" in events and not _before(events, "callback_held", "charge_accepted"):
        cells.add("callback after the charge returned, before the decision")
    if "callback_ignored" in events:
        cells.add("callback after the decision")
    if "callback_duplicate" in events:
        cells.add("callback duplicated")
    if "callback_mismatched" in events:
        cells.add("callback for another charge")
    if "callback_timeout" in events:
        cells.add("callback timer fired first")
    return cells


def _fraud_cells(events: list[str]) -> set[str]:
    cells = set()
    if "fraud_verdict" in events and "charge_accepted" in events:
        if _before(events, "fraud_verdict", "charge_accepted"):
            cells.add("fraud verdict before the charge was accepted")
        else:
            cells.add("fraud verdict after the charge was accepted")
    if "fraud_check_failed" in events:
        cells.add("fraud check failed or timed out")
    return cells
