"""The regression suite: every file in scenarios/ that the dev backend can run (all but those
breaking what only the cluster runs: tests/cluster) runs against the real stack and must hold.

A new scenario file is a new test, with no code change.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from chaos.runner import ScenarioRunner
from chaos.scenario import load_scenario, scenario_files
from runtime.embedded import EmbeddedStack

pytestmark = pytest.mark.integration


ON_DEV = [p for p in scenario_files() if "dev" in load_scenario(p).backends]


@pytest.mark.parametrize("path", ON_DEV, ids=lambda p: p.stem)
def test_scenario_holds(chaos_stack: EmbeddedStack, path: Path) -> None:
    result = ScenarioRunner(chaos_stack).run(load_scenario(path))
    failed = [
        f"{v.name}: expected {v.expected}, observed {v.observed}"
        for v in result.verdicts
        if not v.passed
    ]
    assert result.error is None, result.error
    assert result.passed, "\n".join(failed)
    assert not any(f.error for f in result.faults), [f.error for f in result.faults]
