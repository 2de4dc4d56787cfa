"""`saga load`'s engine on the real stack: k6 through the API, remote write, invariants."""

from __future__ import annotations

import time

import pytest

from chaos.k6 import INSTALL_HINT as K6_HINT
from chaos.load import LoadOptions, LoadTest
from observability.prometheus import INSTALL_HINT, query
from runtime.embedded import EmbeddedStack
from tests.binaries import require_binary

pytestmark = pytest.mark.integration


def test_a_short_load_run_passes_and_reaches_prometheus(stack: EmbeddedStack) -> None:
    require_binary("k6", K6_HINT)
    require_binary("prometheus", INSTALL_HINT)
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
