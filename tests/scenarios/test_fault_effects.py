"""Every fault proves it took effect: a toxic that touched nothing fails its run, and a partial
toxic acts per request, on the same requests every run."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from chaos.run.runner import ScenarioResult, ScenarioRunner
from chaos.scenario.format import find_scenario, load_scenario
from runtime.embedded import EmbeddedStack

pytestmark = pytest.mark.integration

EFFECTS = Path(__file__).parent / "effects"
LATENCY_MS = 1500


def _late_callbacks(result: ScenarioResult) -> list[int]:
    """Workload indexes of the payments whose callback took the toxic's latency."""
    assert result.evidence is not None
    index = {p.payment_id: p.index for p in result.payments}
    return sorted(
        index[c["payment_id"]]
        for c in result.evidence.bundle.charges
        if c["payment_id"] in index and c["callback_ms"] and c["callback_ms"][0] >= LATENCY_MS - 100
    )


def test_partial_toxicity_delays_about_half_the_callbacks_the_same_ones_each_run(
    chaos_stack: EmbeddedStack,
) -> None:
    scenario = load_scenario(find_scenario("callback-latency-partial"))
    runner = ScenarioRunner(chaos_stack)
    first, second = runner.run(scenario), runner.run(scenario)
    assert first.passed and second.passed, (first.error, second.error)
    late = _late_callbacks(first)
    assert 0.2 <= len(late) / len(first.payments) <= 0.8, late
    assert _late_callbacks(second) == late


def test_a_toxic_that_touched_nothing_fails_its_scenario(chaos_stack: EmbeddedStack) -> None:
    scenario = load_scenario(EFFECTS / "idle-toxic.yaml")
    runner = ScenarioRunner(chaos_stack)
    result = runner.run(scenario)
    failed = {v.name: v.observed for v in result.verdicts if not v.passed}
    assert result.error is None, result.error
    effect = "fault 0 (latency on fraud (downstream, latency=500)) took effect"
    assert set(failed) == {effect}, failed
    assert failed[effect] == "0 bytes through fraud while the toxic was on"
    excused = msgspec.structs.replace(
        scenario,
        faults=[msgspec.structs.replace(scenario.faults[0], expect_effect=False)],
    )
    assert runner.run(excused).passed
