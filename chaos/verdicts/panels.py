"""The dashboards' panels over one scenario's window, from the run's own metrics.

The PromQL is read from the dashboard definitions (:mod:`observability.dashboards`, the one
source the Grafana JSON is generated from), evaluated with Prometheus' ``query_range`` over the
window the scenario ran in, and kept in the journal, so the HTML report draws the same panels a
Grafana would show, offline (``saga report JOURNAL``), with no Grafana running.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from observability.dashboards import CHAOS, K6, RETRIES_AND_TIMERS, SAGA_OVERVIEW, Dashboard
from runtime.errors import StackError
from runtime.prometheus import SCRAPE_INTERVAL_S, query_range

#: The dashboards a scenario run shows (the k6 one only for load runs).
SCENARIO_DASHBOARDS = (SAGA_OVERVIEW, RETRIES_AND_TIMERS, CHAOS)
LOAD_DASHBOARDS = (*SCENARIO_DASHBOARDS, K6)
#: A load run without a scenario's faults: the chaos dashboard would only say nothing broke.
LOAD_DASHBOARDS_WITHOUT_FAULTS = (SAGA_OVERVIEW, RETRIES_AND_TIMERS, K6)
#: Grafana's ``$__rate_interval``: four scrape intervals.
RATE_INTERVAL = f"{4 * SCRAPE_INTERVAL_S}s"
_VARIABLE = re.compile(r"\$(\w+)")
_LEGEND = re.compile(r"\{\{\s*(\w+)\s*\}\}")


@dataclass
class PanelData:
    """One panel's series over the window (``t`` in seconds from the window's start)."""

    dashboard: str
    title: str
    unit: str
    needs_data: bool
    series: list[dict[str, Any]] = field(default_factory=list)
    """``{"legend": str, "points": [[t, value], ...]}`` per series."""
    error: str | None = None
    """Why a query could not be evaluated (Prometheus refused it, or did not answer)."""

    @property
    def has_data(self) -> bool:
        """Whether the queries returned any series (as Grafana's "no data" means). A series may
        still have no point to draw: a counter that appeared with its value and never grew has
        no rate, so a quantile of it is NaN throughout."""
        return bool(self.series)


def promql(expr: str, window_s: float) -> str:
    """A dashboard expression with Grafana's variables filled in for a window of ``window_s``
    (``$__rate_interval``, ``$__range``; any dashboard variable matches everything)."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "__rate_interval":
            return RATE_INTERVAL
        if name == "__range":
            return f"{max(1, round(window_s))}s"
        return ".*"

    return _VARIABLE.sub(value, expr)


def legend(template: str, labels: dict[str, str], fallback: str) -> str:
    """A Grafana legend (``{{step}} attempt {{attempt}}``) filled from a series' labels."""
    if not template:
        shown = {k: v for k, v in labels.items() if k not in ("__name__", "job", "instance")}
        return ", ".join(f"{k}={v}" for k, v in sorted(shown.items())) or fallback
    return _LEGEND.sub(lambda m: labels.get(m.group(1), ""), template)


def capture(
    prometheus_url: str,
    start: float,
    end: float,
    dashboards: tuple[Dashboard, ...] = SCENARIO_DASHBOARDS,
    step_s: float = 2.0,
) -> list[PanelData]:
    """Every panel of ``dashboards`` over ``start`` to ``end`` (Unix seconds)."""
    window = max(end - start, step_s)
    found = []
    for dashboard in dashboards:
        for panel in dashboard.panels:
            data = PanelData(dashboard.title, panel.title, panel.unit, panel.needs_data)
            for query in panel.queries:
                try:
                    result = query_range(
                        prometheus_url, promql(query.expr, window), start, end, step_s
                    )
                except (StackError, OSError, ValueError) as err:
                    data.error = str(err)
                    continue
                for series in result:
                    labels = {str(k): str(v) for k, v in series["metric"].items()}
                    points = [
                        [round(float(t) - start, 3), float(v)]
                        for t, v in series["values"]
                        if v not in ("NaN", "+Inf", "-Inf")
                    ]
                    name = legend(query.legend, labels, query.expr[:40])
                    data.series.append({"legend": name, "points": points})
            found.append(data)
    return found
