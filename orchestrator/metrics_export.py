"""Metric exporters: the Temporal runtime's exporter and prometheus-client's.

A worker serves two ``/metrics`` endpoints: the Temporal SDK's (its own metrics plus the
workflow metrics of :mod:`orchestrator.workflows.metrics`) and prometheus-client's (activity
and service metrics of :mod:`orchestrator.activities.metrics`). The API and simulators serve
prometheus-client's on their own HTTP port instead.
"""

from __future__ import annotations

from typing import Any

import prometheus_client
from litestar import Response, get
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from orchestrator.workflows.metrics import HISTOGRAM_BUCKETS


def sdk_runtime(port: int, service: str, host: str = "127.0.0.1") -> Runtime:
    """A Temporal runtime exporting SDK and workflow metrics on ``host:port``.

    Durations are in seconds and counters end in ``_total``, per Prometheus conventions.
    """
    return Runtime(
        telemetry=TelemetryConfig(
            metrics=PrometheusConfig(
                bind_address=f"{host}:{port}",
                counters_total_suffix=True,
                durations_as_seconds=True,
                histogram_bucket_overrides=HISTOGRAM_BUCKETS,
            ),
            global_tags={"service": service},
        )
    )


def serve_metrics(port: int, host: str = "127.0.0.1") -> None:
    """Serve prometheus-client's registry on ``host:port`` from a daemon thread."""
    prometheus_client.start_http_server(port, addr=host)


@get("/metrics", sync_to_thread=False, include_in_schema=False)
def metrics_endpoint() -> Response[Any]:
    """prometheus-client's registry, for a Litestar app (simulators)."""
    return Response(
        prometheus_client.generate_latest(),
        media_type=prometheus_client.CONTENT_TYPE_LATEST,
    )
