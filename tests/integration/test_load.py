"""`saga load`'s engine on the real stack: k6 through the API, remote write, invariants."""

from __future__ import annotations

import time
from typing import cast

import pytest

from chaos.perf.load import LoadOptions, LoadTest
from runtime.embedded import EmbeddedStack
from runtime.prometheus import query
from tests.binaries import require_binary

pytestmark = pytest.mark.integration


def test_a_short_load_run_passes_and_reaches_prometheus(stack: EmbeddedStack) -> None:
    require_binary("k6")
    require_binary("prometheus")
    lines: list[str] = []
    report = LoadTest(stack, progress=lines.append).run(
        LoadOptions(rate=3, duration="5s", mix={"success": 0.6, "decline": 0.2, "cancel": 0.2})
    )
    assert report.passed, (report.k6.thresholds(), report.audit.summary(), report.unfinished)
    created = report.k6.metric("saga_payments_created", "count") or 0
    assert created >= 10 and len(report.final_states) == created
    assert set(report.states()) <= {"succeeded", "failed", "cancelled"}
    assert report.states()["succeeded"] >= 1
    assert any(line.strip().startswith("running (") for line in lines), lines[:5]
    # k6 remote-wrote its metrics, tagged with the run's testid.
    assert stack.prometheus_url
    deadline = time.monotonic() + 15
    while not query(stack.prometheus_url, f'k6_http_reqs_total{{testid="{report.testid}"}}'):
        assert time.monotonic() < deadline, "no k6 metrics in Prometheus"
        time.sleep(1)


def test_a_load_run_can_wait_for_each_saga_with_one_long_poll(stack: EmbeddedStack) -> None:
    require_binary("k6")
    require_binary("prometheus")
    report = LoadTest(stack, progress=lambda _: None).run(
        LoadOptions(rate=3, duration="5s", wait_s=10)
    )
    assert report.passed, (report.k6.thresholds(), report.audit.summary(), report.unfinished)
    created = report.k6.metric("saga_payments_created", "count") or 0
    assert created >= 10 and set(report.states()) <= {"succeeded", "failed", "cancelled"}
    # Each payment: its create, at most a cancel, and one held read (every saga ends in 10 s).
    assert stack.prometheus_url
    by_api: dict[str, float] = {}
    deadline = time.monotonic() + 15
    while "wait" not in by_api:
        assert time.monotonic() < deadline, f"no k6 requests by api in Prometheus: {by_api}"
        time.sleep(1)
        samples = query(
            stack.prometheus_url, f'sum by (api) (k6_http_reqs_total{{testid="{report.testid}"}})'
        )
        by_api = {
            cast(dict[str, str], s["metric"]).get("api", ""): float(cast(list[str], s["value"])[1])
            for s in samples
        }
    assert "state" not in by_api and "status" not in by_api, by_api
    assert by_api["wait"] == created, by_api
