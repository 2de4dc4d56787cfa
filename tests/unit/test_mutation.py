"""The mutant catalogue and the score: complete, refused in production, and able to drop."""

from __future__ import annotations

import pytest

from chaos.mutants.sagas import MUTANTS
from chaos.mutants.score import KILLERS, QUICK, MutantResult, MutationReport, render
from chaos.mutants.worker import entry, swap_for
from chaos.scenario.format import find_scenario, load_scenario
from orchestrator.config import StackConfig
from orchestrator.ledger import Ledger
from orchestrator.roles import ROLES
from orchestrator.workers import main as worker_main
from orchestrator.workers import workflows_of
from orchestrator.workflows.payment import PaymentWorkflow
from orchestrator.workflows.reconcile import ReconcileWorkflow


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


def test_only_the_harness_entry_swaps_a_mutant_into_a_worker() -> None:
    """Issue 28: the product's workers cannot run a mutant (no config field, no flag, no
    import); the harness's entry point hands the mutant's classes to the product's worker."""
    swap = swap_for("velocity-off-by-one")
    classes = workflows_of(ROLES["payments"], "v2", swap)
    assert MUTANTS["velocity-off-by-one"].workflow in classes
    assert PaymentWorkflow not in classes
    assert workflows_of(ROLES["fraud"], "v2", swap) == workflows_of(ROLES["fraud"], "v2")
    assert swap.ledger is MUTANTS["velocity-off-by-one"].ledger is not Ledger
    assert workflows_of(ROLES["payments"], "v2") == [PaymentWorkflow, ReconcileWorkflow]
    assert entry("drop-refund") == ("chaos.mutants.worker", "--mutant", "drop-refund")
    with pytest.raises(KeyError, match="unknown mutant 'drop-everything'"):
        entry("drop-everything")
    assert "mutant" not in StackConfig.__struct_fields__
    with pytest.raises(SystemExit):
        worker_main(["payments", "--config", "x.json", "--mutant", "drop-refund"])


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
