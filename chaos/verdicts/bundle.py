"""The evidence bundle: everything a run left behind, frozen once, for the pure checkers.

Gathered after the workload ended and every payment settled (or the deadline passed):

- the ledger's journal, balances and repairs, read in one transaction;
- the provider's charges and the notifications the notification provider accepted;
- per payment: what the harness asked for (user, amount), the API's last view of it
  (``PaymentStatus`` as JSON), and Temporal's: the execution's close status, its
  ``PaymentStatus`` search attribute, the causes of failed workflow tasks, every
  ``provider_confirmation`` signal (with whether it came after the decision) and the fraud
  child's close status.

The bundle is a msgspec struct written into the journal (``scenarios[i].bundle``), so
``saga check JOURNAL`` re-runs the checkers offline, on exactly what the run saw.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC
from typing import Any

import msgspec
from google.protobuf.timestamp_pb2 import Timestamp
from temporalio.api.enums.v1 import EventType, WorkflowTaskFailedCause
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError

from chaos.run.workload import TERMINAL
from orchestrator.activities.accounts import AccountActivities
from orchestrator.config import StackConfig
from orchestrator.ledger import Ledger
from orchestrator.models import ACCOUNTS_QUEUE
from orchestrator.temporal_client import connect
from orchestrator.workflows.payment import PAYMENT_STATUS
from runtime.admin_client import notices_refused, notices_sent, provider_charges


class LedgerEntry(msgspec.Struct, frozen=True):
    """One row of the ledger's journal (``kind``: opening, debit or refund)."""

    payment_id: str
    user_id: str
    kind: str
    amount: int
    created_at: str


class LedgerRepair(msgspec.Struct, frozen=True):
    """A repair the reconciler journaled (``kind``: refund or void)."""

    payment_id: str
    kind: str
    reason: str
    amount: int


class Callback(msgspec.Struct, frozen=True):
    """A ``provider_confirmation`` signal as the execution's history recorded it."""

    event_id: str
    charge_id: str
    status: str
    after_decision: bool
    """Delivered after the saga had decided (its search attribute was already terminal)."""


class Execution(msgspec.Struct, frozen=True):
    """Temporal's view of one payment."""

    status: str
    """Close status as Temporal names it: COMPLETED, RUNNING, TERMINATED, FAILED, ..."""
    search_status: str | None
    """The ``PaymentStatus`` search attribute."""
    task_failures: list[str]
    """Causes of every failed workflow task (``WORKFLOW_TASK_FAILED_CAUSE_`` stripped)."""
    callbacks: list[Callback]
    fraud_child: str | None
    """The fraud child's close status, or None if it never started."""
    cancel_requests: int = 0
    """Temporal cancel requests (``temporal workflow cancel``) the history holds."""
    cancel_signals: int = 0
    """``cancel`` signals that arrived before the decision (the search attribute not yet
    terminal)."""
    timers_s: list[float] = msgspec.field(default_factory=list)
    """The duration of every timer the execution started, in order (the callback timer is
    ``callback_timeout_s``)."""
    fraud_passed: bool | None = None
    """The fraud child's own verdict (its result), None if it did not complete."""
    account_workers: list[str] = msgspec.field(default_factory=list)
    """The worker processes that ran its account activities (validate, debit, refund), by name,
    from the identity (``<name>:<pid>``) of each activity-started event in its history."""


class Payment(msgspec.Struct, frozen=True):
    """One payment of the run: the request, the API's last answer, and Temporal's view."""

    payment_id: str
    user_id: str
    amount: int
    terminated: bool
    """A workflow fault terminated its execution; only the reconciler can settle it."""
    api: dict[str, Any]
    execution: Execution | None
    deleted: bool = False
    """A workflow fault deleted its finished execution (then retried its POST): it must have
    none now, and ``api`` is what the API showed before the delete."""
    healthy: bool = False
    """Nothing the payment met went wrong on purpose (no fault, no cancel, every service
    answering), as the run that drove it knows: it must succeed unless the ledger or the fraud
    service refuses it (the reference model's "a healthy payment succeeds")."""
    debit_between: list[str] = msgspec.field(default_factory=list)
    """When its debit committed, by true time, not the ledger's stamp: ``[earliest, latest]``
    (ISO 8601). On the real stack, from the Temporal server's clock: its first debit activity was
    scheduled, and one completed (its debit, or the one it found, had committed by then); in
    the virtual world, the exact virtual time (kept across a delete). Empty when unknown (no
    debit activity completed, or the history is gone)."""


class Bundle(msgspec.Struct, frozen=True):
    """One run's evidence; the checkers (``chaos.verdicts.checkers``) are pure functions of it."""

    entries: list[LedgerEntry]
    balances: dict[str, int]
    repairs: list[LedgerRepair]
    charges: list[dict[str, Any]]
    notifications: list[dict[str, Any]]
    payments: list[Payment]
    velocity_window_s: float
    velocity_max_payments: int
    callback_timeout_s: float | None = None
    """The run's callback timer (None: not recorded, its rule is not judged)."""
    notices_refused: list[dict[str, Any]] = []
    """Messages the notification service refused for their channel (its own record):
    ``notification_id``, ``payment_id``, ``channel``."""


#: The activity whose commit the velocity limit counts (its history gives the commit's true time).
DEBIT_ACTIVITY = AccountActivities.debit_account.__name__

#: Workflow-task failures Temporal causes by itself and retries: not a saga bug.
BENIGN_TASK_FAILURES = frozenset({"UNHANDLED_COMMAND", "RESET_STICKY_TASK_QUEUE"})

#: The server fails the in-flight workflow task when ``temporal workflow terminate`` closes the
#: execution under it: benign only on an execution a fault terminated.
TERMINATE_TASK_FAILURES = frozenset({"FORCE_CLOSE_COMMAND"})


def refused_channels(bundle: Bundle) -> dict[str, set[str]]:
    """Per payment, the channels the notification service refused for it (its own record)."""
    refused: dict[str, set[str]] = {}
    for n in bundle.notices_refused:
        refused.setdefault(str(n["payment_id"]), set()).add(str(n["channel"]))
    return refused


def decode_bundle(raw: object) -> Bundle:
    """A bundle from its JSON form (as written into the journal)."""
    return msgspec.convert(raw, Bundle)


async def collect_bundle(
    config: StackConfig,
    payments: list[tuple[str, str, int, bool, dict[str, Any]]],
    velocity: tuple[float, int],
    deleted: frozenset[str] = frozenset(),
    callback_timeout_s: float | None = None,
    healthy: bool = False,
) -> Bundle:
    """Freeze the evidence of a run; ``payments`` holds (payment id, user, amount, terminated,
    API status) for every payment the workload created; ``deleted`` the ids whose execution a
    workflow fault deleted; ``healthy``: the run was calm, every payment healthy."""
    client = await connect(config)
    executions = await asyncio.gather(*(_execution(client, p[0]) for p in payments))
    snapshot = await asyncio.to_thread(Ledger(config.ledger_path).snapshot)
    charges = await asyncio.to_thread(provider_charges, config.admin_urls.provider)
    notifications = await asyncio.to_thread(notices_sent, config.admin_urls.notify)
    refused = await asyncio.to_thread(notices_refused, config.admin_urls.notify)
    return Bundle(
        entries=[
            LedgerEntry(e.payment_id, e.user_id, e.kind, e.amount, e.created_at)
            for e in snapshot.entries
        ],
        balances=snapshot.balances,
        repairs=[LedgerRepair(r.payment_id, r.kind, r.reason, r.amount) for r in snapshot.repairs],
        charges=charges,
        notifications=notifications,
        notices_refused=refused,
        payments=[
            Payment(
                pid, user, amount, terminated, status, execution, pid in deleted, healthy, between
            )
            for (pid, user, amount, terminated, status), (execution, between) in zip(
                payments, executions, strict=True
            )
        ],
        velocity_window_s=velocity[0],
        velocity_max_payments=velocity[1],
        callback_timeout_s=callback_timeout_s,
    )


async def _execution(client: Client, payment_id: str) -> tuple[Execution | None, list[str]]:
    """Temporal's view of a payment, and when its debit committed by the server's clock."""
    handle = client.get_workflow_handle(payment_id)
    try:
        description = await handle.describe()
        history = await handle.fetch_history()
    except RPCError:
        return None, []
    search = description.typed_search_attributes.get(PAYMENT_STATUS)
    task_failures = []
    callbacks = []
    decided = False
    cancel_requests = cancel_signals = 0
    timers: list[float] = []
    account_activities: set[int] = set()
    account_workers: set[str] = set()
    debits: set[int] = set()
    first_debit: str | None = None
    debit_done: str | None = None
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            scheduled = event.activity_task_scheduled_event_attributes
            if scheduled.task_queue.name == ACCOUNTS_QUEUE:
                account_activities.add(event.event_id)
            if scheduled.activity_type.name == DEBIT_ACTIVITY:
                debits.add(event.event_id)
                if first_debit is None:  # its commit is after the first debit's scheduling
                    first_debit = _server_time(event.event_time)
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            completed = event.activity_task_completed_event_attributes
            if completed.scheduled_event_id in debits:  # and before this one's completion
                debit_done = _server_time(event.event_time)
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            started = event.activity_task_started_event_attributes
            if started.scheduled_event_id in account_activities:
                account_workers.add(started.identity.split(":", 1)[0])
        elif event.event_type == EventType.EVENT_TYPE_TIMER_STARTED:
            timeout = event.timer_started_event_attributes.start_to_fire_timeout
            timers.append(timeout.ToTimedelta().total_seconds())
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED:
            cancel_requests += 1
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
            cause = event.workflow_task_failed_event_attributes.cause
            name = WorkflowTaskFailedCause.Name(cause).removeprefix("WORKFLOW_TASK_FAILED_CAUSE_")
            task_failures.append(name)
        elif event.event_type == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
            fields = event.upsert_workflow_search_attributes_event_attributes.search_attributes
            payload = fields.indexed_fields.get("PaymentStatus")
            decided = decided or (payload is not None and json.loads(payload.data) in TERMINAL)
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            signal = event.workflow_execution_signaled_event_attributes
            cancel_signals += signal.signal_name == "cancel" and not decided
            if signal.signal_name == "provider_confirmation" and signal.input.payloads:
                body = json.loads(signal.input.payloads[0].data)
                callbacks.append(
                    Callback(body["event_id"], body["charge_id"], body["status"], decided)
                )
    status = description.status
    fraud_child, fraud_passed = await _fraud_child(client, f"{payment_id}-fraud")
    execution = Execution(
        status=status.name if isinstance(status, WorkflowExecutionStatus) else "UNKNOWN",
        search_status=search,
        task_failures=task_failures,
        callbacks=callbacks,
        fraud_child=fraud_child,
        cancel_requests=cancel_requests,
        cancel_signals=cancel_signals,
        timers_s=timers,
        fraud_passed=fraud_passed,
        account_workers=sorted(account_workers),
    )
    between = [first_debit, debit_done] if first_debit and debit_done else []
    return execution, between


def _server_time(stamp: Timestamp) -> str:
    """An event's time, by the Temporal server's clock, as ISO 8601 in UTC."""
    return stamp.ToDatetime(tzinfo=UTC).isoformat()


async def _fraud_child(client: Client, workflow_id: str) -> tuple[str | None, bool | None]:
    """The fraud child's close status and, if it completed, its own verdict."""
    handle = client.get_workflow_handle(workflow_id)
    try:
        description = await handle.describe()
    except RPCError:
        return None, None
    status = description.status
    if status != WorkflowExecutionStatus.COMPLETED:
        return (status.name if isinstance(status, WorkflowExecutionStatus) else "UNKNOWN"), None
    verdict = await handle.result()
    passed = verdict.get("passed") if isinstance(verdict, dict) else None
    return "COMPLETED", passed if isinstance(passed, bool) else None
