"""Exploration: seeded schedules that are valid scenarios, and a shrinker that keeps only what
the violation needs (the stack is faked here: a predicate says which schedules break)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from chaos.explore.real import Explorer, Finding, generate, simpler, to_scenario, write_finding
from chaos.scenario.format import load_scenario


def test_same_seed_same_schedules_and_every_one_is_a_valid_scenario() -> None:
    assert [generate(1, r) for r in range(30)] == [generate(1, r) for r in range(30)]
    assert generate(1, 0) != generate(2, 0)
    kinds = set()
    for seed in (1, 2, 3):
        for run in range(30):
            scenario = to_scenario(generate(seed, run))
            kinds |= {type(f).__name__ for f in scenario.faults}
            assert all(not f.expect_effect for f in scenario.faults)
    assert kinds >= {"ToxicFault", "LinkDownFault", "ProcessFault", "WorkflowFault", "LedgerFault"}


def test_every_simplification_is_valid_and_smaller() -> None:
    data = generate(1, 3)
    for candidate in simpler(data):
        to_scenario(candidate)
        assert candidate != data


class FakeExplorer(Explorer):
    """Breaks iff a ledger fault is present and at least two payments are sent."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def run(self, data: dict[str, Any]) -> list[str]:
        self.calls += 1
        ledger = any(f["kind"] == "ledger" for f in data["faults"])
        return ["money conserved"] if ledger and data["workload"]["payments"] >= 2 else []


def _with_ledger_fault() -> dict[str, Any]:
    data = next(d for d in (generate(1, r) for r in range(50)) if len(d["faults"]) >= 2)
    data["faults"].append({"kind": "ledger", "action": "unavailable", "at_s": 0, "duration_s": 4})
    data["workload"]["payments"] = 8
    return data


def test_shrinking_keeps_only_what_the_violation_needs(tmp_path: Path) -> None:
    explorer = FakeExplorer()
    data = _with_ledger_fault()
    finding = explorer.shrink(data, explorer.run(data), budget=60)
    minimal = finding.minimal
    assert [f["kind"] for f in minimal["faults"]] == ["ledger"]
    assert minimal["workload"]["payments"] == 2
    assert "cancels" not in minimal["workload"]
    assert all(set(knobs) <= {"seed"} for knobs in minimal["simulators"].values())
    path = write_finding(finding, 1, "drop-refund", tmp_path)
    assert load_scenario(path).name == path.stem
    assert "drop-refund" in yaml.safe_load(path.read_text())["description"]


def test_shrinking_stops_at_its_budget() -> None:
    explorer = FakeExplorer()
    data = _with_ledger_fault()
    finding: Finding = explorer.shrink(data, ["money conserved"], budget=3)
    assert finding.shrink_runs == 3 and explorer.calls == 3


def test_each_stack_the_explorer_drops_takes_its_scratch_state_with_it(monkeypatch: Any) -> None:
    """A run that broke an invariant replaces the stack: the old one's state directory goes
    (the finding is a scenario file). An explorer left by an exception keeps its stack's."""
    import chaos.explore.real as explore

    dirs: list[Path] = []

    class Stack:
        def __init__(self, options: Any) -> None:
            dirs.append(options.state_dir)
            (options.state_dir / "temporal.log").write_text("log")

        def start(self) -> None:
            pass

        def stop(self) -> None:
            pass

    class Runner:
        def __init__(self, stack: Stack) -> None:
            pass

        def run(self, scenario: object) -> object:
            return scenario

    verdicts = iter([["money conserved"], [], []])
    monkeypatch.setattr(explore, "EmbeddedStack", Stack)
    monkeypatch.setattr(explore, "ScenarioRunner", Runner)
    monkeypatch.setattr(explore, "to_scenario", lambda data: data)
    monkeypatch.setattr(explore, "violations", lambda result: next(verdicts))
    with Explorer() as explorer:
        assert explorer.run({}) == ["money conserved"]
        assert not dirs[0].exists()
        assert explorer.run({}) == [] and dirs[1].exists()
    assert not dirs[1].exists()
    try:
        with Explorer() as explorer:
            explorer.run({})
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        pass
    assert (dirs[2] / "temporal.log").exists()
    (dirs[2] / "temporal.log").unlink()
    dirs[2].rmdir()


def test_the_cluster_backend_also_draws_a_skewed_clock_and_leaves_the_other_draws_alone() -> None:
    dev = [generate(3, r) for r in range(40)]
    cluster = [generate(3, r, "cluster") for r in range(40)]
    kinds = [{f["kind"] for f in d["faults"]} for d in cluster]
    assert not any("clock_skew" in {f["kind"] for f in d["faults"]} for d in dev)
    assert 5 <= sum("clock_skew" in k for k in kinds) <= 20  # about 30% of the runs
    for mine, theirs in zip(dev, cluster, strict=True):
        theirs = {**theirs, "faults": [f for f in theirs["faults"] if f["kind"] != "clock_skew"]}
        assert mine == theirs
    skewed = next(d for d in cluster if any(f["kind"] == "clock_skew" for f in d["faults"]))
    assert to_scenario(skewed).backends == ("cluster",)
