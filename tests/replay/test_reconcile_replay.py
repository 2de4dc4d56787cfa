"""The reconciler's replay gate: a pass recorded before each of its patches and one recorded on
the current code replay on the current code (``tests/replay/reconcile_histories.py`` records
them; its docstring says how to record an older commit)."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from chaos.verdicts.evidence import patches_in
from orchestrator.payload_json import SAGA_DATA_CONVERTER
from orchestrator.workflows.reconcile import (
    CAREFUL_PASS_PATCH,
    LATE_CHARGES_PATCH,
    SETTLE_AFTER_CLOSE_PATCH,
    SETTLED_PAYMENTS_PATCH,
    UNDEBITED_NOTICES_PATCH,
    ReconcileWorkflow,
)

HISTORIES = Path(__file__).parent / "reconcile"
#: Each recorded pass and the patch markers it holds: the path before settled-payments, the one
#: before careful-pass, the ones before late-charges and undebited-notices, and now (the careful
#: pass asks for no older patch).
PASSES = {
    "before-settled-payments": [SETTLE_AFTER_CLOSE_PATCH],
    "settled-payments": [SETTLED_PAYMENTS_PATCH, SETTLE_AFTER_CLOSE_PATCH],
    "careful-pass": [CAREFUL_PASS_PATCH],
    "late-charges": [CAREFUL_PASS_PATCH, LATE_CHARGES_PATCH],
    "undebited-notices": [CAREFUL_PASS_PATCH, LATE_CHARGES_PATCH, UNDEBITED_NOTICES_PATCH],
}


def load(name: str) -> WorkflowHistory:
    return WorkflowHistory.from_json(f"reconcile-{name}", (HISTORIES / f"{name}.json").read_text())


@pytest.mark.parametrize("name", sorted(PASSES))
async def test_a_recorded_pass_replays_on_current_code(name: str) -> None:
    history = load(name)
    assert patches_in(history) == PASSES[name]
    replayer = Replayer(workflows=[ReconcileWorkflow], data_converter=SAGA_DATA_CONVERTER)
    await replayer.replay_workflow(history)


def test_every_recorded_pass_is_listed() -> None:
    assert {p.stem for p in HISTORIES.glob("*.json")} == set(PASSES)
