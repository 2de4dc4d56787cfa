"""The one assertion every scenario test makes: the run held, without error, every fault
applied."""

from __future__ import annotations

from pathlib import Path

from chaos.run.runner import ScenarioRunner
from chaos.scenario.format import load_scenario
from runtime.stack_view import RunningStack


def assert_scenario_holds(stack: RunningStack, path: Path) -> None:
    """Run the scenario file on ``stack``; fail listing every verdict that did not hold."""
    result = ScenarioRunner(stack).run(load_scenario(path))
    failed = [
        f"{v.name}: expected {v.expected}, observed {v.observed}"
        for v in result.verdicts
        if not v.passed
    ]
    assert result.error is None, result.error
    assert result.passed, "\n".join(failed)
    assert not any(f.error for f in result.faults), [f.error for f in result.faults]
