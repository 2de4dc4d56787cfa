"""The Grafana dashboards as code: ``python -m observability.dashboards`` writes their JSON.

Each panel is a list of PromQL queries; ``needs_data`` marks the panels a chaos run must fill
(``tests/scenarios/test_dashboards.py`` evaluates every query against a real Prometheus after a
scenario). The JSON in ``observability/grafana/dashboards`` is generated; edit this file, then
regenerate (a test fails when the two disagree).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

OUT_DIR = Path(__file__).parent / "grafana" / "dashboards"
DATASOURCE = {"type": "prometheus", "uid": "prometheus"}
RATE = "$__rate_interval"
RANGE = "$__range"


@dataclass(frozen=True)
class Query:
    """One PromQL expression and its legend."""

    expr: str
    legend: str = ""


@dataclass(frozen=True)
class Panel:
    """A time series (or stat) panel."""

    title: str
    queries: tuple[Query, ...]
    unit: str = "short"
    kind: str = "timeseries"
    needs_data: bool = False
    description: str = ""
    width: int = 12


@dataclass(frozen=True)
class Dashboard:
    """A dashboard: panels in rows of two, optional variables and annotations."""

    uid: str
    title: str
    description: str
    panels: tuple[Panel, ...]
    annotations: tuple[dict[str, Any], ...] = ()
    variables: tuple[dict[str, Any], ...] = field(default=())


def q(expr: str, legend: str = "") -> Query:
    """Shorthand for a :class:`Query`."""
    return Query(expr, legend)


def rate_by(metric: str, by: str, selector: str = "") -> Query:
    """Per-second rate of a counter, summed by one label (the legend shows the label)."""
    return q(f"sum by ({by}) (rate({metric}{selector}[{RATE}]))", f"{{{{{by}}}}}")


def increase_by(metric: str, by: str) -> Query:
    """Increase of a counter over the dashboard's range, summed by one label."""
    return q(f"sum by ({by}) (increase({metric}[{RANGE}]))", f"{{{{{by}}}}}")


def quantiles(metric: str, by: str = "", selector: str = "") -> tuple[Query, ...]:
    """p50, p95 and p99 of a Prometheus histogram."""
    group = f"le, {by}" if by else "le"
    suffix = f" {{{{{by}}}}}" if by else ""
    return tuple(
        q(
            f"histogram_quantile({p}, sum by ({group}) (rate({metric}_bucket{selector}[{RATE}])))",
            f"p{int(p * 100)}{suffix}",
        )
        for p in (0.5, 0.95, 0.99)
    )


def fault_annotation() -> dict[str, Any]:
    """Shade every chaos fault window (the runner's ``chaos_fault_active`` gauge)."""
    return {
        "name": "Chaos faults",
        "datasource": DATASOURCE,
        "enable": True,
        "iconColor": "red",
        "expr": "chaos_fault_active == 1",
        "step": "2s",
        "titleFormat": "{{kind}}: {{fault}}",
        "textFormat": "scenario {{scenario}}",
        "useValueForTime": False,
    }


#: On the overview and on the chaos dashboard (what the saga did while faults were on).
FINISHED_BY_OUTCOME = Panel(
    "Payments finished per second, by outcome",
    (rate_by("saga_payments_finished_total", "outcome"),),
    "reqps",
    needs_data=True,
)
COMPENSATIONS_BY_KIND = Panel(
    "Compensations per second, by kind",
    (rate_by("saga_compensations_total", "kind"),),
    "ops",
    needs_data=True,
)

SAGA_OVERVIEW = Dashboard(
    "saga-overview",
    "Saga overview",
    "Payments through the saga: throughput by outcome, in flight, duration, compensations.",
    (
        FINISHED_BY_OUTCOME,
        Panel(
            "Payments started per second, by method",
            (rate_by("saga_payments_started_total", "method"),),
            "reqps",
            needs_data=True,
        ),
        Panel(
            "Payments in flight",
            (q("sum(saga_payments_in_flight)", "running workflows"),),
            needs_data=True,
        ),
        Panel(
            "Saga duration",
            quantiles("saga_duration_seconds"),
            "s",
            needs_data=True,
            description="Start to terminal state, compensations and notification included.",
        ),
        Panel(
            "Outcomes and reasons in the range",
            (
                q(
                    f"sum by (outcome, reason) (increase(saga_payments_finished_total[{RANGE}]))",
                    "{{outcome}} {{reason}}",
                ),
            ),
            kind="stat",
            needs_data=True,
        ),
        COMPENSATIONS_BY_KIND,
        Panel(
            "Compensation failures",
            (increase_by("saga_compensation_failures_total", "kind"),),
            description="Each failure is retried without limit; a non-zero value needs a look.",
        ),
        Panel(
            "Cancels by the step they hit",
            (increase_by("saga_cancels_total", "step"),),
        ),
        Panel(
            "Payments awaiting refund review",
            (
                q(
                    "sum(increase(saga_payments_finished_total"
                    f'{{reason="refund_requires_review"}}[{RANGE}]))',
                    "refund_requires_review",
                ),
            ),
            kind="stat",
            description=(
                "The provider captured and refused the void: the debit stays until a person "
                "refunds it (alert PaymentNeedsRefundReview)."
            ),
        ),
        Panel(
            "Reconciler repairs, by kind",
            (increase_by("saga_reconciliation_repairs_total", "kind"),),
            description=(
                "Refunds and voids for executions no saga finished (terminated, timed out); "
                "saga reconcile --dry-run lists them."
            ),
        ),
        Panel(
            "Notices delayed and dropped, by channel",
            (
                q(
                    f"sum by (channel) (increase(saga_notices_delayed_total[{RANGE}]))",
                    "delayed {{channel}}",
                ),
                q(
                    f"sum by (channel) (increase(saga_notices_dropped_total[{RANGE}]))",
                    "dropped {{channel}}",
                ),
            ),
            description=(
                "Notices that failed their first attempts and are retried for hours "
                "(alert NoticeDelayed), and those given up (alert NoticeDropped)."
            ),
        ),
        Panel(
            "Late provider charges, by status",
            (increase_by("saga_reconciliation_late_charges_total", "status"),),
            description=(
                "Charges the provider made after their saga gave up (an attempt left "
                "unanswered), voided or refunded at the provider by the reconciler "
                "(alert LateProviderCharge)."
            ),
        ),
        Panel(
            "API requests per second, by route and status",
            (
                q(
                    f"sum by (path, status_code) (rate(saga_api_requests_total[{RATE}]))",
                    "{{path}} {{status_code}}",
                ),
            ),
            "reqps",
            needs_data=True,
        ),
        Panel(
            "API latency p95, by route",
            (
                q(
                    "histogram_quantile(0.95, sum by (le, path) "
                    f"(rate(saga_api_request_duration_seconds_bucket[{RATE}])))",
                    "{{path}}",
                ),
            ),
            "s",
            needs_data=True,
        ),
    ),
    annotations=(fault_annotation(),),
)

RETRIES_AND_TIMERS = Dashboard(
    "saga-retries-timers",
    "Saga retries and timers",
    "Provider attempts and backoff, callback waits, timer expirations, late/duplicate callbacks.",
    (
        Panel(
            "Provider charge attempts per second, by result",
            (
                q(
                    "sum by (result) (rate(saga_activity_attempts_total"
                    f'{{activity="charge_payment"}}[{RATE}]))',
                    "{{result}}",
                ),
            ),
            "ops",
            needs_data=True,
        ),
        Panel(
            "Retries per second, by activity and error kind",
            (
                q(
                    f"sum by (activity, error_kind) (rate(saga_activity_retries_total[{RATE}]))",
                    "{{activity}} {{error_kind}}",
                ),
                # Every retry that started, whatever ended the attempt before it: an attempt
                # lost with a killed worker reports no error and is seen only here.
                q(
                    f"sum by (activity) (rate(saga_activity_retry_delay_seconds_count[{RATE}]))",
                    "{{activity}} retries started",
                ),
            ),
            "ops",
            needs_data=True,
        ),
        Panel(
            "Provider backoff: time since first attempt, by attempt (median)",
            (
                q(
                    "histogram_quantile(0.5, sum by (le, attempt) "
                    "(rate(saga_activity_retry_delay_seconds_bucket"
                    f'{{activity="charge_payment"}}[{RATE}])))',
                    "attempt {{attempt}}",
                ),
            ),
            "s",
            needs_data=True,
            description="Exponential backoff shows as a doubling gap between attempts.",
        ),
        Panel(
            "Callback wait, by result",
            quantiles("saga_callback_wait_seconds", "result"),
            "s",
            needs_data=True,
        ),
        Panel(
            "Callback timer expirations in the range",
            (q(f"sum(increase(saga_callback_timer_expirations_total[{RANGE}]))", "expired"),),
            kind="stat",
            needs_data=True,
        ),
        Panel(
            "Late, duplicate and mismatched callbacks ignored",
            (increase_by("saga_callbacks_ignored_total", "kind"),),
            needs_data=True,
        ),
        Panel(
            "Webhooks at the API, by result",
            (rate_by("saga_callbacks_received_total", "result"),),
            "ops",
            needs_data=True,
        ),
        Panel(
            "Provider faults injected, by kind",
            (increase_by("sim_provider_faults_injected_total", "kind"),),
            needs_data=True,
        ),
        Panel(
            "Provider callbacks, by what happened",
            (increase_by("sim_provider_callbacks_total", "result"),),
            needs_data=True,
        ),
        Panel(
            "Activity attempt duration p95, by activity",
            (
                q(
                    "histogram_quantile(0.95, sum by (le, activity) "
                    f"(rate(saga_activity_duration_seconds_bucket[{RATE}])))",
                    "{{activity}}",
                ),
            ),
            "s",
            needs_data=True,
        ),
    ),
    annotations=(fault_annotation(),),
)

CHAOS = Dashboard(
    "saga-chaos",
    "Chaos",
    "What the harness broke and when, next to what the saga did about it.",
    (
        Panel(
            "Faults active (1 = applied)",
            (q("max by (scenario, kind, fault) (chaos_fault_active)", "{{scenario}}: {{fault}}"),),
            needs_data=True,
        ),
        Panel(
            "Faults injected in the range, by scenario and kind",
            (
                q(
                    f"sum by (scenario, kind) (increase(chaos_faults_injected_total[{RANGE}]))",
                    "{{scenario}} {{kind}}",
                ),
            ),
            needs_data=True,
        ),
        Panel(
            "Scenario running",
            (q("max by (scenario) (chaos_scenario_running)", "{{scenario}}"),),
            needs_data=True,
        ),
        Panel(
            "Process restarts in the range",
            (increase_by("chaos_process_restarts_total", "process"),),
        ),
        Panel(
            "Toxiproxy traffic, bytes per second by link and direction",
            (
                q(
                    "sum by (proxy, direction) "
                    f"(rate(toxiproxy_proxy_received_bytes_total[{RATE}]))",
                    "{{proxy}} {{direction}} received",
                ),
                q(
                    f"sum by (proxy, direction) (rate(toxiproxy_proxy_sent_bytes_total[{RATE}]))",
                    "{{proxy}} {{direction}} sent",
                ),
            ),
            "Bps",
            needs_data=True,
        ),
        Panel(
            "Targets up (0 = down: killed, paused or cut off)",
            (q('min by (process) (up{job!="k6"})', "{{process}}"),),
            needs_data=True,
        ),
        FINISHED_BY_OUTCOME,
        COMPENSATIONS_BY_KIND,
    ),
    annotations=(
        fault_annotation(),
        {
            "name": "Scenarios",
            "datasource": DATASOURCE,
            "enable": True,
            "iconColor": "blue",
            "expr": "chaos_scenario_running == 1",
            "step": "2s",
            "titleFormat": "scenario {{scenario}}",
            "useValueForTime": False,
        },
    ),
)

TEMPORAL_HEALTH = Dashboard(
    "saga-temporal-health",
    "Temporal SDK and server health",
    "Schedule-to-start latency, task failures, worker slots, server requests and persistence.",
    (
        Panel(
            "Workflow task schedule-to-start p95, by task queue",
            (
                q(
                    "histogram_quantile(0.95, sum by (le, task_queue) "
                    f"(rate(temporal_workflow_task_schedule_to_start_latency_bucket[{RATE}])))",
                    "{{task_queue}}",
                ),
            ),
            "s",
            needs_data=True,
            description="Rising values mean workers cannot keep up: add workers or slots.",
        ),
        Panel(
            "Activity schedule-to-start p95, by task queue",
            (
                q(
                    "histogram_quantile(0.95, sum by (le, task_queue) "
                    f"(rate(temporal_activity_schedule_to_start_latency_bucket[{RATE}])))",
                    "{{task_queue}}",
                ),
            ),
            "s",
            needs_data=True,
        ),
        Panel(
            "Workflow task failures per second",
            (
                q(
                    "sum by (task_queue, failure_reason) "
                    f"(rate(temporal_workflow_task_execution_failed_total[{RATE}]))",
                    "{{task_queue}} {{failure_reason}}",
                ),
            ),
            "ops",
            description="Non-determinism after a bad deploy shows here first.",
        ),
        Panel(
            "Activity failures per second, by type",
            (
                q(
                    "sum by (activity_type) "
                    f"(rate(temporal_activity_execution_failed_total[{RATE}]))",
                    "{{activity_type}}",
                ),
            ),
            "ops",
        ),
        Panel(
            "Worker slots used, by process and kind",
            (
                q(
                    "sum by (process, worker_type) (temporal_worker_task_slots_used)",
                    "{{process}} {{worker_type}}",
                ),
            ),
            needs_data=True,
        ),
        Panel(
            "Worker slots available, by process and kind",
            (
                q(
                    "sum by (process, worker_type) (temporal_worker_task_slots_available)",
                    "{{process}} {{worker_type}}",
                ),
            ),
            needs_data=True,
        ),
        Panel(
            "Workflow task execution latency p95",
            (
                q(
                    "histogram_quantile(0.95, sum by (le, task_queue) "
                    f"(rate(temporal_workflow_task_execution_latency_bucket[{RATE}])))",
                    "{{task_queue}}",
                ),
            ),
            "s",
            needs_data=True,
        ),
        Panel(
            "Sticky cache size and pollers",
            (
                q("sum by (process) (temporal_sticky_cache_size)", "cache {{process}}"),
                q(
                    "sum by (process, poller_type) (temporal_num_pollers)",
                    "{{process}} {{poller_type}}",
                ),
            ),
        ),
        Panel(
            "Server requests per second, by operation",
            (rate_by("service_requests", "operation"),),
            "reqps",
            needs_data=True,
        ),
        Panel(
            "Server errors per second, by type",
            (rate_by("service_error_with_type", "error_type"),),
            "ops",
        ),
        Panel(
            "Persistence latency p95, by operation",
            (
                q(
                    "histogram_quantile(0.95, sum by (le, operation) "
                    f"(rate(persistence_latency_bucket[{RATE}])))",
                    "{{operation}}",
                ),
            ),
            "s",
            needs_data=True,
        ),
        Panel(
            "Server task queue latency p95",
            (
                q(
                    "histogram_quantile(0.95, sum by (le, task_type) "
                    f"(rate(task_latency_queue_bucket[{RATE}])))",
                    "{{task_type}}",
                ),
            ),
            "s",
        ),
    ),
    annotations=(fault_annotation(),),
)

K6_SELECT = '{testid=~"$testid"}'
K6 = Dashboard(
    "saga-k6",
    "k6 load",
    "k6 runs (remote-written to Prometheus): requests, latency, failures, dropped iterations.",
    (
        Panel(
            "HTTP requests per second, by request name",
            (q(f"sum by (name) (rate(k6_http_reqs_total{K6_SELECT}[{RATE}]))", "{{name}}"),),
            "reqps",
        ),
        Panel(
            "HTTP request duration",
            (
                q(f"max(k6_http_req_duration_p50{K6_SELECT})", "p50"),
                q(f"max(k6_http_req_duration_p95{K6_SELECT})", "p95"),
                q(f"max(k6_http_req_duration_p99{K6_SELECT})", "p99"),
            ),
            "s",
        ),
        Panel(
            "Failed requests (share)",
            (q(f"avg(k6_http_req_failed_rate{K6_SELECT})", "failed"),),
            "percentunit",
        ),
        Panel(
            "Dropped iterations per second",
            (q(f"sum(rate(k6_dropped_iterations_total{K6_SELECT}[{RATE}]))", "dropped"),),
            "ops",
            description="Non-zero: the arrival rate needed more VUs than allowed.",
        ),
        Panel(
            "Virtual users",
            (q(f"sum(k6_vus{K6_SELECT})", "VUs"), q(f"sum(k6_vus_max{K6_SELECT})", "max")),
        ),
        Panel(
            "Saga outcomes seen by k6",
            (
                q(
                    f"sum by (outcome) (increase(k6_saga_outcomes_total{K6_SELECT}[{RANGE}]))",
                    "{{outcome}}",
                ),
            ),
        ),
        Panel(
            "Payments ending in the expected state (share)",
            (q(f"avg(k6_saga_expected_outcome_rate{K6_SELECT})", "expected"),),
            "percentunit",
        ),
        Panel(
            "Checks passing (share)",
            (q(f"avg(k6_checks_rate{K6_SELECT})", "checks"),),
            "percentunit",
        ),
    ),
    annotations=(fault_annotation(),),
    variables=(
        {
            "name": "testid",
            "label": "k6 test id",
            "type": "query",
            "datasource": DATASOURCE,
            "query": {"query": "label_values(k6_http_reqs_total, testid)", "refId": "testid"},
            "definition": "label_values(k6_http_reqs_total, testid)",
            "includeAll": True,
            "allValue": ".*",
            "multi": True,
            "refresh": 2,
            "current": {"text": "All", "value": "$__all"},
        },
    ),
)

DASHBOARDS = (SAGA_OVERVIEW, RETRIES_AND_TIMERS, CHAOS, TEMPORAL_HEALTH, K6)


def render(dashboard: Dashboard) -> dict[str, Any]:
    """The Grafana JSON model of one dashboard."""
    panels = []
    x = y = 0
    for i, panel in enumerate(dashboard.panels):
        if x + panel.width > 24:
            x, y = 0, y + 8
        panels.append(
            {
                "id": i + 1,
                "type": panel.kind,
                "title": panel.title,
                "description": panel.description,
                "datasource": DATASOURCE,
                "gridPos": {"x": x, "y": y, "w": panel.width, "h": 8},
                "fieldConfig": {"defaults": {"unit": panel.unit}, "overrides": []},
                "options": {"legend": {"displayMode": "list", "placement": "bottom"}},
                "targets": [
                    {
                        "refId": chr(ord("A") + j),
                        "datasource": DATASOURCE,
                        "expr": query.expr,
                        "legendFormat": query.legend,
                    }
                    for j, query in enumerate(panel.queries)
                ],
            }
        )
        x += panel.width
    builtin = {
        "builtIn": 1,
        "datasource": {"type": "grafana", "uid": "-- Grafana --"},
        "enable": True,
        "hide": True,
        "iconColor": "rgba(0, 211, 255, 1)",
        "name": "Annotations & Alerts",
        "type": "dashboard",
    }
    return {
        "uid": dashboard.uid,
        "title": dashboard.title,
        "description": dashboard.description,
        "tags": ["payment-saga"],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "refresh": "5s",
        "time": {"from": "now-15m", "to": "now"},
        "annotations": {"list": [builtin, *dashboard.annotations]},
        "templating": {"list": list(dashboard.variables)},
        "panels": panels,
    }


def rendered_files() -> dict[Path, str]:
    """Every dashboard file and its content."""
    return {OUT_DIR / f"{d.uid}.json": json.dumps(render(d), indent=2) + "\n" for d in DASHBOARDS}


def main() -> None:
    """Write the dashboards' JSON (``--check``: exit 1 if the files are stale instead)."""
    check = "--check" in sys.argv[1:]
    stale = []
    for path, text in rendered_files().items():
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(path.name)
        else:
            path.write_text(text)
            print(f"wrote {path}")
    if stale:
        raise SystemExit(f"stale dashboards (run `python -m observability.dashboards`): {stale}")


if __name__ == "__main__":
    main()
