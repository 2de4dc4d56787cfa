"""Workflow faults aim at disjoint payments, chosen by the seed."""

from __future__ import annotations

from chaos.nemesis.workflow import workflow_fault_targets
from chaos.scenario.format import parse_scenario

SCENARIO = """
name: t
description: x
seed: {seed}
workload: {{payments: 20}}
faults:
  - {{kind: workflow, action: cancel, share: 0.25, at_step: debit}}
  - {{kind: ledger, action: unavailable}}
  - {{kind: workflow, action: terminate, share: 0.5, at_step: charge}}
  - {{kind: workflow, action: cancel, share: 0.5, at_step: validate}}
"""


def test_targets_are_disjoint_sized_by_share_and_follow_the_seed() -> None:
    targets = workflow_fault_targets(parse_scenario(SCENARIO.format(seed=1), "t.yaml"))
    assert sorted(targets) == [0, 2, 3]
    assert [len(targets[i]) for i in (0, 2, 3)] == [5, 10, 5]  # the last gets what is left
    assert not (targets[0] & targets[2]) and not (targets[2] & targets[3])
    again = workflow_fault_targets(parse_scenario(SCENARIO.format(seed=1), "t.yaml"))
    other = workflow_fault_targets(parse_scenario(SCENARIO.format(seed=2), "t.yaml"))
    assert again == targets and other != targets
