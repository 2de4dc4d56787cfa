"""The scenario suite on the cluster backend: a core subset of the scenarios that run on both
backends, and every scenario that breaks what only the cluster runs (PostgreSQL, one Temporal
service, the second account worker, the ``db`` link). A new cluster-only scenario file is a new
test here, with no code change."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaos.scenario.format import find_scenario, load_scenario, scenario_files
from runtime.embedded import EmbeddedStack
from tests.scenario_check import assert_scenario_holds

pytestmark = pytest.mark.integration

#: Scenarios of both backends that must hold on the cluster too (issue 13's core subset).
CORE = (
    "happy-path",
    "provider-decline",
    "missing-callback",
    "cancel-mid-flight",
    "worker-crash",
    "temporal-restart",
    "ledger-outage",
)
CLUSTER_ONLY = tuple(p for p in scenario_files() if load_scenario(p).backends == ("cluster",))


@pytest.mark.parametrize(
    "path", [find_scenario(name) for name in CORE] + list(CLUSTER_ONLY), ids=lambda p: p.stem
)
def test_scenario_holds_on_the_cluster(cluster: EmbeddedStack, path: Path) -> None:
    assert_scenario_holds(cluster, path)


def test_the_cluster_only_scenarios_are_the_new_ones() -> None:
    assert {p.stem for p in CLUSTER_ONLY} == {
        "db-outage",
        "history-crash",
        "two-account-workers",
        "clock-skew-account-workers",
    }
