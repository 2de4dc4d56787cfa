"""The suite catches a broken saga: each mutant of the CI subset is killed by its scenario.

``saga mutants run --quick`` as a test: every mutant in ``chaos.mutants.score.QUICK`` runs on a
stack of its own (its payments worker runs the mutant, everything else is the real system) and
must fail a verdict of the first scenario expected to kill it. The whole catalogue, with the
score, is ``saga mutants run`` (README, "Mutation score").
"""

from __future__ import annotations

import pytest

from chaos.mutants.score import KILLERS, QUICK, run_mutant
from tests.binaries import require_binary

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("name", QUICK)
def test_the_suite_kills_the_mutant(name: str) -> None:
    require_binary("temporal")
    result = run_mutant(name, quick=True)
    assert result.outcome == "killed", (result.outcome, result.detail)
    assert result.scenario == KILLERS[name][0]
    assert result.failed
