"""Metrics only the workflow knows, recorded with the replay-safe ``workflow.metric_meter()``.

The SDK drops these while a workflow replays (after a worker restart or a cache eviction), so
each fact is counted once however often its history is replayed; ``tests/workflows`` proves it.
They are exported by the worker's Temporal runtime (see :mod:`orchestrator.metrics_export`) next to
the SDK's own metrics, with ``namespace``, ``task_queue`` and ``workflow_type`` labels added.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow


@dataclass(frozen=True)
class WorkflowCounter:
    """A counter; the exporter appends ``_total``."""

    name: str
    description: str

    def add(self, **labels: str) -> None:
        """Add one, from workflow code."""
        workflow.metric_meter().create_counter(self.name, self.description).add(1, labels)


@dataclass(frozen=True)
class WorkflowHistogram:
    """A histogram of durations in seconds, with its buckets."""

    name: str
    description: str
    buckets: tuple[float, ...]

    def record(self, value: timedelta, **labels: str) -> None:
        """Record one duration, from workflow code."""
        histogram = workflow.metric_meter().create_histogram_float(self.name, self.description, "s")
        histogram.record(value.total_seconds(), labels)


PAYMENTS_FINISHED = WorkflowCounter(
    "saga_payments_finished", "Payment sagas finished, by outcome, method and reason"
)
SAGA_DURATION = WorkflowHistogram(
    "saga_duration_seconds",
    "Payment saga duration from start to its terminal state, by outcome",
    (0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 450, 600, 900),
)
CALLBACK_WAIT = WorkflowHistogram(
    "saga_callback_wait_seconds",
    "Time from the provider accepting a charge to its callback or the timer firing, by result",
    (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600),
)
CALLBACK_TIMER_EXPIRATIONS = WorkflowCounter(
    "saga_callback_timer_expirations", "Provider callback timers that fired"
)
CALLBACKS_IGNORED = WorkflowCounter(
    "saga_callbacks_ignored",
    "Provider callbacks the saga ignored, by kind: duplicate, late or mismatched (another charge)",
)
COMPENSATIONS = WorkflowCounter("saga_compensations", "Compensations that took effect, by kind")
COMPENSATION_FAILURES = WorkflowCounter(
    "saga_compensation_failures", "Compensations that failed, by kind"
)
CANCELS = WorkflowCounter("saga_cancels", "Cancel requests the saga acted on, by the step they hit")
FRAUD_VERDICTS = WorkflowCounter("saga_fraud_verdicts", "Fraud verdicts, by verdict")
FRAUD_DURATION = WorkflowHistogram(
    "saga_fraud_check_duration_seconds",
    "Fraud check child workflow duration, retries included",
    (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
)

#: Bucket overrides for the runtime's Prometheus exporter.
HISTOGRAM_BUCKETS: dict[str, list[float]] = {
    h.name: list(h.buckets) for h in (SAGA_DURATION, CALLBACK_WAIT, FRAUD_DURATION)
}

NOTICES_DELAYED = WorkflowCounter(
    "saga_notices_delayed",
    "Notices that failed their first attempts and are retried for hours, by channel",
)
NOTICES_DROPPED = WorkflowCounter(
    "saga_notices_dropped",
    "Notices given up after notice_give_up_s of retries: the user was never told, by channel",
)

RECONCILE_REVIEW = WorkflowCounter(
    "saga_reconciliation_review",
    "Payments the reconciler listed for a person (captured, or forgotten with money missing)",
)
RECONCILE_REPAIRS_FAILED = WorkflowCounter(
    "saga_reconciliation_repairs_failed", "Payment repairs that failed in a reconciler pass"
)
RECONCILE_LATE_CHARGES = WorkflowCounter(
    "saga_reconciliation_late_charges",
    "Charges found held at the provider after their saga completed without succeeding (an"
    " attempt the provider processed after the worker gave up), by its status",
)


def since_start() -> timedelta:
    """Workflow time since this execution started."""
    return workflow.now() - workflow.info().start_time
