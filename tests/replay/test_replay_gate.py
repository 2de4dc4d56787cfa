"""The replay gate: every recorded history replays on the current workflow code.

A change to ``PaymentWorkflow`` that would break payments in flight (a reordered, added or
removed command without ``workflow.patched``) fails here, before it is deployed. Re-record the
corpus with ``saga histories record`` only for a change that is meant to be incompatible, and
never while old payments may still be running.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer
from temporalio.workflow import NondeterminismError

from orchestrator.histories import HISTORIES_DIR
from orchestrator.workflows.fraud import FraudCheckWorkflow
from orchestrator.workflows.payment import PaymentWorkflow
from tests.replay.incompatible_workflow import ReorderedPaymentWorkflow

MANIFEST = json.loads((HISTORIES_DIR / "manifest.json").read_text())


def load(name: str) -> WorkflowHistory:
    text = (HISTORIES_DIR / f"{name}.json").read_text()
    return WorkflowHistory.from_json(MANIFEST[name]["workflow_id"], text)


def test_the_corpus_covers_the_saga_paths() -> None:
    names = set(MANIFEST)
    assert {
        "happy-path",
        "provider-decline",
        "missing-callback",
        "fraud-reject",
        "cancel-mid-flight",
        "provider-retries",
    } <= names
    assert any(not entry["complete"] for entry in MANIFEST.values()), "no mid-flight history"
    assert {p.stem for p in HISTORIES_DIR.glob("*.json")} - {"manifest"} == names


@pytest.mark.parametrize("name", sorted(MANIFEST))
async def test_history_replays_on_current_code(name: str) -> None:
    # The same workflows (and default data converter) as the real worker.
    replayer = Replayer(workflows=[PaymentWorkflow, FraudCheckWorkflow])
    await replayer.replay_workflow(load(name))


async def test_the_gate_catches_an_unpatched_reorder() -> None:
    replayer = Replayer(workflows=[ReorderedPaymentWorkflow])
    with pytest.raises(NondeterminismError) as err:
        await replayer.replay_workflow(load("happy-path"))
    assert "debit_account" in str(err.value) or "validate_payment" in str(err.value), err.value


def test_histories_are_committed_json(tmp_path: Path) -> None:
    for name in MANIFEST:
        events = json.loads((HISTORIES_DIR / f"{name}.json").read_text())["events"]
        assert events[0]["eventType"] in (
            "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED",
            "WorkflowExecutionStarted",
        )
