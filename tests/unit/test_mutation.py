"""The mutant catalogue and the score: complete, refused in production, and able to drop."""

from __future__ import annotations

import msgspec
import pytest

from chaos.mutation import KILLERS, QUICK, MutantResult, MutationReport, render
from chaos.scenario import find_scenario, load_scenario
from orchestrator.roles import ROLES
from orchestrator.workers import refuse_unasked_mutant, workflows_of
from orchestrator.workflows.mutants import MUTANTS
from orchestrator.workflows.payment import PaymentWorkflow
from tests.unit.stack_configs import unreachable_config


def test_at_least_fifteen_mutants_each_with_a_scenario_that_should_kill_it() -> None:
    assert len(MUTANTS) >= 15
    assert set(KILLERS) == set(MUTANTS)
    assert set(QUICK) <= set(MUTANTS)
    for scenarios in KILLERS.values():
        for name in scenarios:
            load_scenario(find_scenario(name))
    for mutant in MUTANTS.values():
        assert issubclass(mutant.workflow, PaymentWorkflow)
        assert mutant.workflow is not PaymentWorkflow


def test_a_worker_runs_a_mutant_only_when_the_harness_asks() -> None:
    """Issue 34, item 16: the guard used to fail open (only the container image set the
    variable that refused mutants); now a worker refuses unless started with --allow-mutant."""
    classes = workflows_of(ROLES["payments"], "v2", "drop-refund")
    assert MUTANTS["drop-refund"].workflow in classes
    assert PaymentWorkflow not in classes
    assert workflows_of(ROLES["fraud"], "v2", "drop-refund") == workflows_of(ROLES["fraud"], "v2")
    config = unreachable_config(mutant="drop-refund")
    with pytest.raises(SystemExit, match="--allow-mutant"):
        refuse_unasked_mutant(config, allowed=False)
    refuse_unasked_mutant(config, allowed=True)
    refuse_unasked_mutant(msgspec.structs.replace(config, mutant=None), allowed=False)


def test_a_survivor_lowers_the_score_and_shows() -> None:
    report = MutationReport(
        [
            MutantResult("a", "bug a", "killed", "happy-path", ["money conserved"], 1, 3.0),
            MutantResult("b", "bug b", "survived", None, [], 20, 300.0),
            MutantResult("c", "bug c", "equivalent", detail="idempotent"),
        ]
    )
    assert report.score == 0.5
    text = render(report)
    assert "SURVIVED" in text
    assert "mutation score: 1/2 killed (50%); 1 equivalent, not counted" in text
