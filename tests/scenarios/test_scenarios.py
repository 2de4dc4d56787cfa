"""The regression suite: every file in scenarios/ that the dev backend can run (all but those
breaking what only the cluster runs: tests/cluster) runs against the real stack and must hold.

A new scenario file is a new test, with no code change.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from chaos.scenario.format import load_scenario, scenario_files
from runtime.embedded import EmbeddedStack
from tests.scenario_check import assert_scenario_holds

pytestmark = pytest.mark.integration


ON_DEV = [p for p in scenario_files() if "dev" in load_scenario(p).backends]


@pytest.mark.parametrize("path", ON_DEV, ids=lambda p: p.stem)
def test_scenario_holds(chaos_stack: EmbeddedStack, path: Path) -> None:
    assert_scenario_holds(chaos_stack, path)
