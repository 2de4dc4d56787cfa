"""Evidence gathered after a run: the bundle and its checks, plus what the report draws."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from temporalio.client import WorkflowHistory

from chaos.run.workload import PaymentRecord, ProbeResult
from chaos.verdicts.bundle import Bundle
from chaos.verdicts.findings import Check
from orchestrator.config import StackConfig
from orchestrator.models import ReconcileReport
from orchestrator.temporal_client import connect
from orchestrator.workflows.payment import PATCHES
from runtime.admin_client import provider_charges


@dataclass
class Evidence:
    """What the run left behind."""

    payments: list[PaymentRecord]
    probes: list[ProbeResult]
    bundle: Bundle
    """Everything the run left behind, frozen once (``chaos.verdicts.bundle``)."""
    checks: list[Check]
    """The checkers over the bundle (``chaos.verdicts.checkers``)."""
    late_callbacks_ignored: int
    duplicate_callbacks: int = 0
    """Payments that received a redelivered callback while open (from their histories)."""
    foreign_callbacks: int = 0
    """Payments that received a callback for another charge while open (from their histories)."""
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
    reconcile: ReconcileReport | None = None
    """The reconciler's pass before the evidence was collected (when the scenario asks)."""


def charges_by_payment(config: StackConfig) -> dict[str, dict[str, Any]]:
    """The provider's charges, keyed by payment id."""
    return {c["payment_id"]: c for c in provider_charges(config.admin_urls.provider)}


def late_callbacks_ignored(bundle: Bundle) -> int:
    """Timed-out payments whose callback did arrive, after the decision (from their histories);
    the ``callbacks`` checker proves each was ignored."""
    return sum(
        1
        for p in bundle.payments
        if p.api.get("reason") == "callback_timeout"
        and p.execution is not None
        and any(c.after_decision for c in p.execution.callbacks)
    )


def duplicate_callbacks_delivered(bundle: Bundle) -> int:
    """Payments whose history holds a redelivered callback (an event id seen before in it); the
    ``callbacks`` checker proves each was recognised as a duplicate."""
    return sum(
        1
        for p in bundle.payments
        if p.execution is not None
        and len({c.event_id for c in p.execution.callbacks}) < len(p.execution.callbacks)
    )


def foreign_callbacks_delivered(bundle: Bundle) -> int:
    """Payments whose history holds a callback for a charge that is not theirs; the
    ``callbacks`` checker proves no decision rested on one."""
    return sum(
        1
        for p in bundle.payments
        if p.execution is not None
        and any(c.charge_id != p.api.get("charge_id") for c in p.execution.callbacks)
    )


async def history_steps(config: StackConfig, payment_id: str) -> list[dict[str, Any]]:
    """A payment's Temporal history as steps: offset in seconds, event, detail."""
    client = await connect(config)
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


def patches_in(history: WorkflowHistory) -> list[str]:
    """The ids of the patch markers a history recorded, in order."""
    return [
        json.loads(p.data)["id"]
        for e in history.events
        if e.HasField("marker_recorded_event_attributes")
        for p in e.marker_recorded_event_attributes.details["patch-data"].payloads
    ]


async def version_facts(
    config: StackConfig, payment_ids: list[str]
) -> tuple[dict[str, bool], dict[str, str], int]:
    """Per payment: took the patched path (a marker of a patch the previous build lacks:
    ``shielded-debit``, which every build records on the oldest path, does not count)? which
    build finished it? And non-determinism count."""
    from temporalio.api.enums.v1 import WorkflowTaskFailedCause

    nondeterministic = WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_NON_DETERMINISTIC_ERROR
    client = await connect(config)
    new_path: dict[str, bool] = {}
    finished_on: dict[str, str] = {}
    failures = 0
    for payment_id in payment_ids:
        history = await client.get_workflow_handle(payment_id).fetch_history()
        new_path[payment_id] = bool(set(patches_in(history)) & set(PATCHES))
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
