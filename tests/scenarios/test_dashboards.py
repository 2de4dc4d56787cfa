"""Every PromQL query of every dashboard panel, evaluated against the Prometheus of a real run.

Each query must parse; the panels marked ``needs_data`` (saga, retries, timers, compensations,
chaos, Temporal health) must return data after the ``dashboard-tour`` scenario.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from chaos.run.runner import ScenarioRunner
from chaos.scenario.format import load_scenario
from chaos.verdicts.panels import SCENARIO_DASHBOARDS
from observability.dashboards import DASHBOARDS, rendered_files
from runtime.embedded import EmbeddedStack
from runtime.prometheus import SCRAPE_INTERVAL_S, query
from tests.binaries import require_binary

pytestmark = pytest.mark.integration

TOUR = Path(__file__).with_name("dashboard-tour.yaml")
#: What Grafana would substitute; generous windows so the whole run is inside them.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__range": "10m", "$testid": ".*"}


def as_prometheus_sees_it(expr: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    return expr


def test_the_committed_dashboards_are_generated_from_code() -> None:
    for path, text in rendered_files().items():
        assert path.exists() and path.read_text() == text, (
            f"{path.name} is stale: run `python -m observability.dashboards`"
        )


def test_every_dashboard_query_parses_and_the_saga_panels_have_data(
    chaos_stack: EmbeddedStack,
) -> None:
    require_binary("prometheus")
    base = chaos_stack.prometheus_url
    assert base, "the scenario stack did not start Prometheus although it is installed"
    result = ScenarioRunner(chaos_stack, panels=True).run(load_scenario(TOUR))
    failed = [(v.name, v.expected, v.observed) for v in result.verdicts if not v.passed]
    assert result.error is None and result.passed, (result.error, failed)
    time.sleep(2 * SCRAPE_INTERVAL_S + 1)  # the last increments reach Prometheus

    empty = []
    for dashboard in DASHBOARDS:
        for panel in dashboard.panels:
            samples = 0
            for q in panel.queries:
                samples += len(query(base, as_prometheus_sees_it(q.expr)))  # raises if invalid
            if panel.needs_data and samples == 0:
                empty.append(f"{dashboard.title} / {panel.title}")
        for annotation in dashboard.annotations:
            query(base, as_prometheus_sees_it(annotation["expr"]))
    assert not empty, f"panels without data after a chaos run: {empty}"

    # The HTML report's panels: the same queries over the scenario's own window.
    captured = {(p.dashboard, p.title): p for p in result.panels}
    assert set(captured) >= {(d.title, p.title) for d in SCENARIO_DASHBOARDS for p in d.panels}, (
        "the report misses a dashboard panel"
    )
    errors = [f"{k}: {p.error}" for k, p in captured.items() if p.error]
    assert errors == []
    blank = [f"{d} / {t}" for (d, t), p in captured.items() if p.needs_data and not p.has_data]
    assert not blank, f"report panels without data in the scenario's window: {blank}"
