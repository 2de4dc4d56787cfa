"""The harness's prometheus-client metrics (``chaos_*``): which faults are active and which
scenario runs, served with the runtime's metrics by the process running the scenario
(:func:`runtime.metrics.serve_owner_metrics`)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

CHAOS_FAULT_ACTIVE = Gauge(
    "chaos_fault_active",
    "1 while a scenario's fault is applied (Grafana annotates its window)",
    ["scenario", "kind", "fault"],
)
CHAOS_FAULTS_INJECTED = Counter(
    "chaos_faults_injected", "Faults applied by the scenario runner", ["scenario", "kind"]
)
CHAOS_SCENARIO_RUNNING = Gauge(
    "chaos_scenario_running", "1 while a scenario's workload and faults run", ["scenario"]
)
