"""The saga's prometheus-client metrics: every name, label and bucket in one place.

Who exports what (each process serves its own ``/metrics``):

* the API: payments started, callbacks and cancels received, payments in flight, HTTP requests
  (Litestar's Prometheus middleware, ``saga_api_*``);
* the workers: every activity attempt by result and every retryable failure by error kind (an
  interceptor, so each activity is counted the same way), notifications by channel;
* the simulators: ``sim_*`` counters of what they did and the faults they injected;
* the process that owns the stack (``saga up``, the scenario runner): ``chaos_*``, which faults
  are active, process restarts, which scenario runs.

Facts only the workflow knows (outcomes, saga duration, compensations, cancels, callback waits
and timer expirations) are counted with the replay-safe ``workflow.metric_meter()`` instead;
see :mod:`orchestrator.workflows.telemetry`. Labels are bounded: never a payment id.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

#: Seconds; from a fast local call up to a hung provider (the provider call times out at 15 s).
CALL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 30.0)
#: Seconds; a saga can wait out the 5-minute callback timer and then compensate.
SAGA_BUCKETS = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 450.0, 600.0, 900.0)

# -- the API ---------------------------------------------------------------------------------

PAYMENTS_STARTED = Counter(
    "saga_payments_started", "Payment sagas started through the API", ["method"]
)
PAYMENT_REQUESTS_REPLAYED = Counter(
    "saga_payment_requests_replayed",
    "POST /payments answered from an earlier request with the same Idempotency-Key",
)
CALLBACKS_RECEIVED = Counter(
    "saga_callbacks_received",
    "Provider webhooks by what the API did with them",
    ["result"],  # delivered | ignored | rejected_signature | rejected_payload
)
CANCEL_REQUESTS = Counter(
    "saga_cancel_requests", "Cancel requests by result", ["result"]
)  # accepted | already_final
PAYMENTS_IN_FLIGHT = Gauge(
    "saga_payments_in_flight", "Payment workflows running now (Temporal visibility count)"
)

# -- the workers -----------------------------------------------------------------------------

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

# -- the simulators --------------------------------------------------------------------------

SIM_PROVIDER_CHARGES = Counter(
    "sim_provider_charges",
    "Charges the mock provider answered, by result",
    ["result"],  # accepted | declined | replayed | refused_voided
)
SIM_PROVIDER_FAULTS = Counter(
    "sim_provider_faults_injected", "Transport faults the provider injected", ["kind"]
)
SIM_PROVIDER_CALLBACKS = Counter(
    "sim_provider_callbacks",
    "Provider callbacks by what happened to them",
    ["result"],  # delivered | delivery_failed | dropped | duplicated | foreign
)
SIM_FRAUD_SCORES = Counter(
    "sim_fraud_scores", "Scoring requests the fraud service answered", ["result"]
)  # pass | fail | error
SIM_NOTIFICATIONS = Counter(
    "sim_notifications", "Messages the notification service took", ["channel", "result"]
)


# -- the harness -----------------------------------------------------------------------------

CHAOS_FAULT_ACTIVE = Gauge(
    "chaos_fault_active",
    "1 while a scenario's fault is applied (Grafana annotates its window)",
    ["scenario", "kind", "fault"],
)
CHAOS_FAULTS_INJECTED = Counter(
    "chaos_faults_injected", "Faults applied by the scenario runner", ["scenario", "kind"]
)
CHAOS_PROCESS_RESTARTS = Counter(
    "chaos_process_restarts", "Stack processes restarted (after a kill, or on request)", ["process"]
)
CHAOS_SCENARIO_RUNNING = Gauge(
    "chaos_scenario_running", "1 while a scenario's workload and faults run", ["scenario"]
)


def attempt_label(attempt: int) -> str:
    """A bounded label for an attempt number: 1..9, then ``10+``."""
    return str(attempt) if attempt < 10 else "10+"
