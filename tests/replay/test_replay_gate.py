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

from chaos.verdicts.evidence import patches_in
from orchestrator.payload_json import SAGA_DATA_CONVERTER
from orchestrator.workflows.fraud import FraudCheckWorkflow, LocalFraudCheckWorkflow
from orchestrator.workflows.payment import PaymentWorkflow
from runtime.histories import HISTORIES_DIR
from tests.replay.incompatible_workflow import ReorderedPaymentWorkflow

#: One folder per generation of the saga's code: the original corpus (before the atomic velocity
#: and settle-charge patches) at the top, each later one in a subfolder named after its patch;
#: and one ``interrupts-<build>`` folder per build of operator cancels and terminates at every
#: step (``tests/replay/interrupt_histories.py``).
GENERATIONS = sorted(p.parent for p in HISTORIES_DIR.rglob("manifest.json"))
INTERRUPTS = [d for d in GENERATIONS if d.name.startswith("interrupts-")]
SAGA_GENERATIONS = [d for d in GENERATIONS if d not in INTERRUPTS]
MANIFESTS = {d: json.loads((d / "manifest.json").read_text()) for d in GENERATIONS}
CASES = [(d, name) for d, manifest in MANIFESTS.items() for name in sorted(manifest)]


def load(name: str, generation: Path = HISTORIES_DIR) -> WorkflowHistory:
    text = (generation / f"{name}.json").read_text()
    return WorkflowHistory.from_json(MANIFESTS[generation][name]["workflow_id"], text)


@pytest.mark.parametrize("generation", SAGA_GENERATIONS, ids=lambda d: d.name)
def test_the_corpus_covers_the_saga_paths(generation: Path) -> None:
    manifest = MANIFESTS[generation]
    names = set(manifest)
    assert {
        "happy-path",
        "provider-decline",
        "missing-callback",
        "fraud-reject",
        "cancel-mid-flight",
        "provider-retries",
    } <= names
    assert any(not entry["complete"] for entry in manifest.values()), "no mid-flight history"
    assert {p.stem for p in generation.glob("*.json")} - {"manifest"} == names


@pytest.mark.parametrize("generation", INTERRUPTS, ids=lambda d: d.name)
def test_interrupts_are_recorded_at_every_step(generation: Path) -> None:
    """Issue 34, item 17: a Temporal cancel or a terminate at every step a build can be held at.
    The wave-1 build's cancel during validate is the one case no build can replay (see
    docs/upgrades.md, "Temporal cancels from the first build")."""
    names = set(MANIFESTS[generation])
    steps = ["debit", "charge", "await_confirmation", "await_fraud", "notify"]
    for action in ("cancel", "terminate"):
        assert {f"temporal-{action}-{step}" for step in steps} <= names


def test_interrupts_cover_every_build() -> None:
    assert {d.name for d in INTERRUPTS} >= {"interrupts-wave-1", "interrupts-v1", "interrupts-v2"}


def test_every_patch_has_a_generation_recorded_on_it() -> None:
    hint = "record the current code: saga histories record --out tests/histories/PATCH"
    assert len(GENERATIONS) >= 2, hint


@pytest.mark.parametrize(("generation", "name"), CASES, ids=lambda v: getattr(v, "name", v))
async def test_history_replays_on_current_code(generation: Path, name: str) -> None:
    # The same workflows and data converter as the real worker.
    replayer = Replayer(
        workflows=[PaymentWorkflow, FraudCheckWorkflow, LocalFraudCheckWorkflow],
        data_converter=SAGA_DATA_CONVERTER,
    )
    await replayer.replay_workflow(load(name, generation))


async def test_the_gate_catches_an_unpatched_reorder() -> None:
    replayer = Replayer(workflows=[ReorderedPaymentWorkflow])
    with pytest.raises(NondeterminismError) as err:
        await replayer.replay_workflow(load("happy-path"))
    assert "debit_account" in str(err.value) or "validate_payment" in str(err.value), err.value


def test_histories_are_committed_json(tmp_path: Path) -> None:
    for generation, name in CASES:
        events = json.loads((generation / f"{name}.json").read_text())["events"]
        assert events[0]["eventType"] in (
            "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED",
            "WorkflowExecutionStarted",
        )


def test_the_newest_generation_holds_a_callback_that_beat_the_charge() -> None:
    """hold-early-callbacks changes what the saga does only when a callback arrives before the
    charge call returns: the corpus must hold such a history, with the patch's marker."""
    history = load("early-callback", HISTORIES_DIR / "hold-early-callbacks")
    assert "hold-early-callbacks" in patches_in(history)


def test_the_validated_debit_generation_records_one_marker_and_one_account_call() -> None:
    """validated-debit: one patch marker (it implies the earlier patches) and validation inside
    the debit, so a history has no validate_payment activity and no other patch marker."""
    history = load("happy-path", HISTORIES_DIR / "validated-debit")
    activities = [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
    ]
    assert patches_in(history) == ["validated-debit"]
    assert activities == ["debit_account", "charge_payment", "send_notification"]


def test_the_durable_notice_generation_retries_a_failed_notice() -> None:
    """durable-notice is asked only once a notice failed its first attempts: the happy path
    still records one marker, the notification outage two, and its notice is tried again
    after them (a second send_notification activity)."""
    generation = HISTORIES_DIR / "durable-notice"
    assert patches_in(load("happy-path", generation)) == ["validated-debit"]
    outage = load("notification-outage", generation)
    assert patches_in(outage) == ["validated-debit", "durable-notice"]
    sends = [
        e
        for e in outage.events
        if e.HasField("activity_task_scheduled_event_attributes")
        and e.activity_task_scheduled_event_attributes.activity_type.name == "send_notification"
    ]
    assert len(sends) == 2
