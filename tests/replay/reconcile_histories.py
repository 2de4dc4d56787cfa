"""Record one ``ReconcileWorkflow`` pass on the code checked out, for the reconciler's replay test.

The pass runs on a time-skipping test server with fake activities (by the real names): one
payment terminated long ago with its debit and a live charge (a refund and a void), one that
succeeded, one cancelled whose charge was captured after its debit was refunded (a refund at
the provider since ``late-charges``, a review before), and one terminated before its debit that
only Temporal's visibility lists (told and settled since ``undebited-notices``). The script uses
only names that every generation of the reconciler has, so the same file records the code before
a patch too, from a checkout of that commit (``87ea85b`` is the last one before
``settled-payments``)::

    .venv/bin/python -m tests.replay.reconcile_histories tests/replay/reconcile/NAME.json
    git worktree add /tmp/old COMMIT
    cp tests/replay/reconcile_histories.py /tmp/old/tests/replay/
    (cd /tmp/old && $OLDPWD/.venv/bin/python -m tests.replay.reconcile_histories OUT.json)
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from orchestrator.models import (
    ACCOUNTS_QUEUE,
    PAYMENTS_QUEUE,
    ExecutionFacts,
    LedgerDebit,
    ProviderCharge,
    ReconcileRequest,
    RepairRequest,
    RepairResult,
    VoidRequest,
    VoidResult,
)
from orchestrator.payload_json import SAGA_DATA_CONVERTER
from orchestrator.workflows.reconcile import ReconcileWorkflow
from tests.binaries import find_binary

LONG_AGO = "2020-01-01T00:00:00+00:00"
TERMINATED, SUCCEEDED, LATE = "pay_terminated", "pay_succeeded", "pay_late"
DEBITS = [
    *(LedgerDebit(p, "alice", 100, LONG_AGO) for p in (TERMINATED, SUCCEEDED)),
    LedgerDebit(LATE, "alice", 100, LONG_AGO, refunded=True),
]
CHARGES = [
    ProviderCharge(TERMINATED, "ch_t", 100, "authorized"),
    ProviderCharge(SUCCEEDED, "ch_s", 100, "authorized"),
    ProviderCharge(LATE, "ch_l", 100, "captured"),
]
FACTS = {
    TERMINATED: ExecutionFacts(TERMINATED, "TERMINATED", "processing", LONG_AGO),
    SUCCEEDED: ExecutionFacts(SUCCEEDED, "COMPLETED", "succeeded", LONG_AGO),
    LATE: ExecutionFacts(LATE, "COMPLETED", "cancelled", LONG_AGO),
}


@activity.defn(name="list_unrefunded_debits")
async def list_unrefunded_debits() -> list[LedgerDebit]:
    return [d for d in DEBITS if not d.refunded]


@activity.defn(name="list_unsettled_debits")
async def list_unsettled_debits() -> list[LedgerDebit]:
    return DEBITS


@activity.defn(name="list_provider_charges")
async def list_provider_charges() -> list[ProviderCharge]:
    return CHARGES


@activity.defn(name="read_provider_charges")
async def read_provider_charges(payment_ids: list[str]) -> list[ProviderCharge]:
    return [c for c in CHARGES if c.payment_id in payment_ids]


@activity.defn(name="describe_executions")
async def describe_executions(payment_ids: list[str]) -> list[ExecutionFacts]:
    return [FACTS[p] for p in payment_ids]


@activity.defn(name="void_charge")
async def void_charge(request: VoidRequest) -> VoidResult:
    return VoidResult(voided=True)


@activity.defn(name="list_undecided_executions")
async def list_undecided_executions(since: str) -> list[dict[str, Any]]:
    return [
        {
            "payment_id": "pay_undebited",
            "status": "TERMINATED",
            "state": "pending",
            "closed_at": LONG_AGO,
            "user_id": "alice",
        }
    ]


@activity.defn(name="not_settled")
async def not_settled(payment_ids: list[str]) -> list[str]:
    return payment_ids


@activity.defn(name="send_notification")
async def send_notification(request: dict[str, Any]) -> dict[str, Any]:
    return {"notification_id": request["notification_id"], "channel": request["channel"]}


@activity.defn(name="refund_charge")
async def refund_charge(request: dict[str, Any]) -> dict[str, Any]:
    # Plain dicts: the models of older checkouts have no refund types.
    return {"refunded": True}


@activity.defn(name="repair_refund")
async def repair_refund(request: RepairRequest) -> RepairResult:
    return RepairResult(request.payment_id, "refund", done=True)


@activity.defn(name="journal_repair")
async def journal_repair(request: RepairRequest) -> RepairResult:
    return RepairResult(request.payment_id, request.kind, done=True)


@activity.defn(name="mark_settled")
async def mark_settled(payment_ids: list[str]) -> int:
    return len(payment_ids)


PAYMENTS_SIDE: list[Any] = [
    list_provider_charges,
    read_provider_charges,
    describe_executions,
    void_charge,
    refund_charge,
    list_undecided_executions,
]
ACCOUNTS_SIDE: list[Any] = [
    list_unrefunded_debits,
    list_unsettled_debits,
    not_settled,
    repair_refund,
    journal_repair,
    mark_settled,
]


async def record(workflow_id: str) -> str:
    """Run one pass; its history as JSON."""
    server = find_binary("temporal-test-server")
    async with await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=server, data_converter=SAGA_DATA_CONVERTER
    ) as env:
        runner = UnsandboxedWorkflowRunner()
        async with (
            Worker(
                env.client,
                task_queue=PAYMENTS_QUEUE,
                workflows=[ReconcileWorkflow],
                activities=PAYMENTS_SIDE,
                workflow_runner=runner,
            ),
            Worker(env.client, task_queue=ACCOUNTS_QUEUE, activities=ACCOUNTS_SIDE),
            Worker(env.client, task_queue="notifications", activities=[send_notification]),
        ):
            handle = await env.client.start_workflow(
                ReconcileWorkflow.run,
                ReconcileRequest(),
                id=workflow_id,
                task_queue=PAYMENTS_QUEUE,
            )
            print(await handle.result())
            history = await handle.fetch_history()
    return history.to_json()


if __name__ == "__main__":
    target = Path(sys.argv[1])
    target.write_text(asyncio.run(record(f"reconcile-{target.stem}")))
