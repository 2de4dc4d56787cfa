"""Metrics of the process that owns the stack (``saga up``, the scenario runner, a load run):
its prometheus-client registry, served once on a free port and scraped as job ``chaos``. The
harness's ``chaos_*`` gauges (:mod:`chaos.run.metrics`) live in the same registry."""

from __future__ import annotations

import functools

from prometheus_client import Counter

from orchestrator.metrics_export import serve_metrics
from runtime.processes import free_port

CHAOS_PROCESS_RESTARTS = Counter(
    "chaos_process_restarts", "Stack processes restarted (after a kill, or on request)", ["process"]
)


@functools.cache
def serve_owner_metrics() -> int:
    """Serve this process's registry once, on a free port; returns the port."""
    port = free_port()
    serve_metrics(port)
    return port
