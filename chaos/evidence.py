"""Evidence gathered after a run: final statuses, provider charges, the ledger check, histories."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from temporalio.client import Client

from chaos.workload import PaymentRecord, ProbeResult
from orchestrator.audit import AuditReport, audit
from orchestrator.client import provider_charges
from orchestrator.config import StackConfig
from orchestrator.ledger import Entry, Ledger
from orchestrator.models import ReconcileReport


@dataclass
class Evidence:
    """What the run left behind."""

    payments: list[PaymentRecord]
    probes: list[ProbeResult]
    charges: dict[str, dict[str, Any]]
    audit: AuditReport
    late_callbacks_ignored: int
    sample_history: list[dict[str, Any]] = field(default_factory=list)
    sample_payment: str | None = None
    new_path: dict[str, bool] = field(default_factory=dict)
    """Payment id -> its history records a patch marker (it took the new code path)."""
    finished_on: dict[str, str] = field(default_factory=dict)
    """Payment id -> build id of the worker that completed its last workflow task."""
    nondeterminism: int = 0
    """Workflow tasks that failed with a non-determinism error, over all payments."""
    upgrade_window: tuple[float, float] | None = None
    """When the first upgrade started and finished, seconds after the workload started."""
    max_debits_in_window: int = 0
    """The most debits one user had within the velocity window (the limit must hold)."""
    reconcile: ReconcileReport | None = None
    """The reconciler's pass before the evidence was collected (when the scenario asks)."""


def charges_by_payment(config: StackConfig) -> dict[str, dict[str, Any]]:
    """The provider's charges, keyed by payment id."""
    return {c["payment_id"]: c for c in provider_charges(config.admin_urls.provider)}


def late_callbacks_ignored(
    payments: list[PaymentRecord], charges: dict[str, dict[str, Any]]
) -> int:
    """Timed-out payments whose callback did arrive, later, and changed nothing."""
    return sum(
        1
        for p in payments
        if p.status.get("reason") == "callback_timeout"
        and p.state == "failed"
        and charges.get(p.payment_id or "", {}).get("callbacks_sent", 0) > 0
    )


def max_debits_in_window(entries: list[Entry], payment_ids: set[str], window_s: float) -> int:
    """The most debits any one user has among ``payment_ids`` within ``window_s`` seconds."""
    times: dict[str, list[datetime]] = {}
    for e in entries:
        if e.kind == "debit" and e.payment_id in payment_ids:
            times.setdefault(e.user_id, []).append(datetime.fromisoformat(e.created_at))
    most = 0
    for stamps in times.values():
        stamps.sort()
        start = 0
        for end, at in enumerate(stamps):
            while (at - stamps[start]).total_seconds() >= window_s:
                start += 1
            most = max(most, end - start + 1)
    return most


def ledger_audit(
    config: StackConfig, payments: list[PaymentRecord], window_s: float
) -> tuple[AuditReport, int]:
    """The invariants over the whole ledger, with these payments' final states, and the most
    debits one user has among them in any velocity window; from one ledger snapshot."""
    snapshot = Ledger(config.ledger_path).snapshot()
    final = {p.payment_id: p.settled_state for p in payments if p.payment_id}
    review = frozenset(
        p.payment_id
        for p in payments
        if p.payment_id and p.status.get("reason") == "refund_requires_review"
    )
    report = audit(
        snapshot.entries,
        snapshot.balances,
        provider_charges(config.admin_urls.provider),
        final,
        review,
    )
    return report, max_debits_in_window(snapshot.entries, set(final), window_s)


async def history_steps(config: StackConfig, payment_id: str) -> list[dict[str, Any]]:
    """A payment's Temporal history as steps: offset in seconds, event, detail."""
    client = await Client.connect(config.temporal_address)
    history = await client.get_workflow_handle(payment_id).fetch_history()
    steps: list[dict[str, Any]] = []
    start: datetime | None = None
    scheduled: dict[int, str] = {}
    for event in history.events:
        at = event.event_time.ToDatetime()
        start = start or at
        name = _event_name(event.event_type)
        detail = ""
        if event.HasField("activity_task_scheduled_event_attributes"):
            detail = event.activity_task_scheduled_event_attributes.activity_type.name
            scheduled[event.event_id] = detail
        for attr in (
            "activity_task_completed_event_attributes",
            "activity_task_failed_event_attributes",
            "activity_task_timed_out_event_attributes",
            "activity_task_canceled_event_attributes",
        ):
            if event.HasField(attr):
                detail = scheduled.get(getattr(event, attr).scheduled_event_id, "")
        if event.HasField("workflow_execution_signaled_event_attributes"):
            detail = event.workflow_execution_signaled_event_attributes.signal_name
        if event.HasField("timer_started_event_attributes"):
            timeout = event.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta()
            detail = f"{timeout.total_seconds():g}s"
        if event.HasField("start_child_workflow_execution_initiated_event_attributes"):
            detail = (
                event.start_child_workflow_execution_initiated_event_attributes.workflow_type.name
            )
        if name.startswith("WorkflowTask"):
            continue
        steps.append(
            {"offset_s": round((at - start).total_seconds(), 3), "event": name, "detail": detail}
        )
    return steps


async def version_facts(
    config: StackConfig, payment_ids: list[str]
) -> tuple[dict[str, bool], dict[str, str], int]:
    """Per payment: took the patched path? which build finished it? And non-determinism count."""
    from temporalio.api.enums.v1 import WorkflowTaskFailedCause

    nondeterministic = WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_NON_DETERMINISTIC_ERROR
    client = await Client.connect(config.temporal_address)
    new_path: dict[str, bool] = {}
    finished_on: dict[str, str] = {}
    failures = 0
    for payment_id in payment_ids:
        history = await client.get_workflow_handle(payment_id).fetch_history()
        new_path[payment_id] = any(
            e.HasField("marker_recorded_event_attributes") for e in history.events
        )
        completed = [
            e.workflow_task_completed_event_attributes
            for e in history.events
            if e.HasField("workflow_task_completed_event_attributes")
        ]
        if completed:
            finished_on[payment_id] = completed[-1].deployment_version.build_id
        failures += sum(
            1
            for e in history.events
            if e.HasField("workflow_task_failed_event_attributes")
            and e.workflow_task_failed_event_attributes.cause == nondeterministic
        )
    return new_path, finished_on, failures


def _event_name(event_type: int) -> str:
    from temporalio.api.enums.v1 import EventType

    raw = EventType.Name(EventType.ValueType(event_type)).removeprefix("EVENT_TYPE_")
    return "".join(part.capitalize() for part in raw.split("_"))
