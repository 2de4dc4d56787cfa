"""The workers' prometheus-client metrics: every activity attempt by result and every retryable
failure by error kind (counted by one interceptor, :mod:`orchestrator.activities.instrumentation`),
notifications by channel, the reconciler's repairs.

Facts only the workflow knows (outcomes, saga duration, compensations, cancels, callback waits,
timer expirations) are counted with the replay-safe ``workflow.metric_meter()`` instead: see
:mod:`orchestrator.workflows.metrics`. Labels are bounded: never a payment id.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

#: Seconds; from a fast local call up to a hung provider (the provider call times out at 15 s).
CALL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 30.0)

ACTIVITY_ATTEMPTS = Counter(
    "saga_activity_attempts",
    "Activity attempts by result: ok, a transient error kind (timeout, connection, http_5xx) "
    "or a business refusal (ProviderDeclined, InsufficientFunds, ...)",
    ["activity", "result"],
)
ACTIVITY_RETRIES = Counter(
    "saga_activity_retries",
    "Failed attempts Temporal will retry (retryable errors), by error kind",
    ["activity", "error_kind"],
)
ACTIVITY_DURATION = Histogram(
    "saga_activity_duration_seconds",
    "Time one activity attempt took",
    ["activity"],
    buckets=CALL_BUCKETS,
)
ACTIVITY_RETRY_DELAY = Histogram(
    "saga_activity_retry_delay_seconds",
    "Time from an activity's first schedule to the start of a retry (the backoff so far), "
    "by attempt number",
    ["activity", "attempt"],
    buckets=(0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 300.0),
)
NOTIFICATIONS = Counter(
    "saga_notifications", "Notifications by channel and result", ["channel", "result"]
)  # sent | failed

RECONCILIATION_REPAIRS = Counter(
    "saga_reconciliation_repairs",
    "Repairs the reconciler made (refunds of debits, voids of live charges), by kind",
    ["kind"],
)


def attempt_label(attempt: int) -> str:
    """A bounded label for an attempt number: 1..9, then ``10+``."""
    return str(attempt) if attempt < 10 else "10+"
