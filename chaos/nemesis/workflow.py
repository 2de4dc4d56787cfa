"""``workflow``: the Temporal API cancels, terminates or deletes a seeded share of the run's
payments, each when a poller first sees it at a step (an operator's hand, or retention).

It acts on the scenario's own payments, so ``saga load`` (whose payments k6 sends) refuses it.
Judged by the verdicts on cancels, terminations (the reconciler settles them) and keys retried
after delete, not by an effect of its own.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import TYPE_CHECKING, Any, Literal

import msgspec
from temporalio.client import Client

from chaos.nemesis.base import STEP_POLL_S, Driver, FaultBase, Nemesis, refuse
from chaos.scenario.types import Rate, WorkflowStep
from orchestrator.models import PaymentState
from orchestrator.temporal_client import connect, delete_execution
from orchestrator.workflows.payment import PaymentWorkflow

if TYPE_CHECKING:
    from chaos.explore.virtual.schedule import Schedule
    from chaos.run.workload import PaymentRecord
    from chaos.scenario.format import Scenario

#: Steps a poller sees on the current build (``validate`` only on payments started before the
#: validated-debit patch: a fault aimed there would hit nothing).
EXPLORED_STEPS = ("debit", "charge", "await_confirmation", "await_fraud")
#: Virtual steps -> the scenario format's steps (a poller sees the payment there).
STEP_NAMES = {
    "validate_payment": "validate",
    "debit_account": "debit",
    "charge_payment": "charge",
    "await_confirmation": "await_confirmation",
    "score_payment": "await_fraud",
    "void_charge": "compensate",
    "refund_account": "compensate",
    "send_notification": "notify",
}


class WorkflowFault(FaultBase, tag="workflow", tag_field="kind", kw_only=True):
    """The Temporal API cancels (``temporal workflow cancel``), terminates or deletes a ``share``
    of the payments, chosen by the seed, when each reaches ``at_step``, within the fault's window
    (``at_s`` to ``at_s + duration_s``). Terminated payments are repaired by the reconciler."""

    action: Literal["cancel", "terminate", "delete"]
    """``cancel``: ``temporal workflow cancel``; ``terminate``: ``temporal workflow terminate``;
    ``delete``: ``temporal workflow delete`` of a finished payment (``at_step: done``), as
    retention does, waited for until Temporal no longer knows it (up to a minute on the dev
    server), then the client's retry of its ``POST /payments`` with the same
    ``Idempotency-Key``, as a client whose answer was lost retries: the API must answer the
    same payment, ``created: false``, and no second saga may start (verdict "keys retried after
    delete")."""
    share: Rate = 1.0
    """Share of the payments targeted, chosen by the seed; no payment is targeted by two workflow
    faults."""
    at_step: WorkflowStep
    """Hit a targeted payment when a poller (every 100 ms) first sees it at this step, within the
    window (``validate`` only on payments started before the validated-debit patch, e.g. on
    build v1: current payments validate inside the debit, so a fault aimed there hits none).
    ``compensate`` and ``notify`` come after the decision (``notify`` once the state is
    terminal: an operator's terminate of a payment "stuck in notify"); ``done`` once it is
    finished, notified included (the only step of ``delete``, and only for it)."""


def workflow_fault_targets(scenario: Scenario) -> dict[int, set[int]]:
    """Fault index -> indexes of the payments that workflow fault is aimed at.

    One shuffle of the payments, by the seed; each workflow fault in file order takes the next
    ``round(share * payments)`` of it, so no payment is the target of two workflow faults (shares
    adding up to more than 1 leave the later faults fewer, or none).
    """
    order = list(range(scenario.workload.payments))
    random.Random(f"{scenario.seed}:workflow-faults").shuffle(order)
    targets: dict[int, set[int]] = {}
    taken = 0
    for index, fault in enumerate(scenario.faults):
        if isinstance(fault, WorkflowFault):
            count = round(fault.share * len(order))
            targets[index] = set(order[taken : taken + count])
            taken += count
    return targets


def deletes(scenario: Scenario) -> bool:
    """Whether the scenario deletes finished executions (and retries their keys)."""
    return any(isinstance(f, WorkflowFault) and f.action == "delete" for f in scenario.faults)


async def status_at(client: Client, payment: PaymentRecord) -> Any | None:
    """The payment's status query, or None while it cannot answer (closed, or not yet started
    on a worker: try again on the next poll)."""
    assert payment.payment_id is not None
    try:
        return await client.get_workflow_handle(payment.payment_id).query(PaymentWorkflow.status)
    except Exception:
        return None


def passed(status: Any, step: str) -> bool:
    """Whether a payment seen in ``status`` ended before reaching ``step``: a miss."""
    return bool(
        status.step == "done"
        or (PaymentState(status.state).terminal and step not in ("notify", "done"))
    )


class WorkflowNemesis(Nemesis[WorkflowFault]):
    """Polls the targeted payments' steps through the window and hits each at its step."""

    fault_type = WorkflowFault
    explored = True
    virtual_fields = ("interrupt", "interrupt_at", "interrupt_frac", "deleted_then_retried")

    @classmethod
    def describe(cls, fault: WorkflowFault) -> str:
        return f"temporal {fault.action} {fault.share:.0%} at {fault.at_step}"

    @classmethod
    def check(cls, fault: WorkflowFault, scenario: Scenario, source: str, where: str) -> None:
        if (fault.action == "delete") != (fault.at_step == "done"):
            refuse(
                source,
                f"{where}.at_step",
                "delete acts on a finished payment (at_step: done), and only delete does",
            )

    @classmethod
    def refusal(cls, fault: WorkflowFault, driver: Driver) -> str | None:
        if driver == "load":
            return (
                "workflow faults act on the scenario's own payments; run it with"
                " `saga scenario run`, not `saga load`"
            )
        return None

    @classmethod
    def needs_reconciler(cls, fault: WorkflowFault) -> bool:
        return fault.action == "terminate"

    @classmethod
    def generate(cls, rng: random.Random, span: float) -> dict[str, Any]:
        action = rng.choice(["cancel", "terminate", "terminate", "delete"])
        steps = (*EXPLORED_STEPS, "compensate", "notify")
        return {
            "action": action,
            "share": rng.choice([0.3, 0.5]),
            "at_step": "done" if action == "delete" else rng.choice(steps),
            "duration_s": 6,
        }

    @classmethod
    def from_virtual(cls, schedule: Schedule, missing: list[str]) -> list[dict[str, Any]]:
        faults = []
        share = round(1 / len(schedule.payments), 3)
        for plan in schedule.payments:
            if plan.interrupt not in ("temporal_cancel", "terminate"):
                continue
            step = STEP_NAMES.get(plan.interrupt_at)
            if step is None:
                missing.append(
                    f"an interrupt during {plan.interrupt_at} (no poller sees that step)"
                )
                continue
            faults.append(
                {
                    "kind": "workflow",
                    "action": "cancel" if plan.interrupt == "temporal_cancel" else "terminate",
                    "share": share,
                    "at_step": step,
                    "at_s": 0,
                    "duration_s": 60,
                    "expect_effect": False,
                }
            )
        reused = sum(p.deleted_then_retried for p in schedule.payments)
        if reused:
            faults.append(
                {
                    "kind": "workflow",
                    "action": "delete",
                    "share": round(reused / len(schedule.payments), 3),
                    "at_step": "done",
                    "at_s": 0,
                    "duration_s": 60,
                    "expect_effect": False,
                }
            )
        return faults

    async def run(self, started: float) -> None:
        """Cancel or terminate each targeted payment when it reaches the step, in the window."""
        fault, record, target = self.fault, self.record, self.target
        targets = workflow_fault_targets(target.scenario)[record.index]
        record.planned_targets = len(targets)
        record.started_at_s = record.applied_at_s = time.monotonic() - started
        assert target.stack.config is not None
        try:
            client = await connect(target.stack.config)
            done: set[int] = set()
            end = started + fault.at_s + fault.duration_s
            while time.monotonic() < end and len(done) < len(targets):
                waiting = [p for p in target.payments if p.index in targets - done and p.payment_id]
                await asyncio.gather(
                    *(self._hit_at_step(client, p, done, started) for p in waiting)
                )
                await asyncio.sleep(STEP_POLL_S)
        finally:
            record.reverted_at_s = time.monotonic() - started

    async def _hit_at_step(
        self, client: Client, payment: PaymentRecord, done: set[int], started: float
    ) -> None:
        fault, record = self.fault, self.record
        status = await status_at(client, payment)
        if status is None or payment.index in done:
            return
        if status.step != fault.at_step:
            if passed(status, fault.at_step):
                done.add(payment.index)
            return
        done.add(payment.index)
        assert payment.payment_id is not None
        handle = client.get_workflow_handle(payment.payment_id)
        if fault.action == "cancel":
            await handle.cancel()
        elif fault.action == "delete":
            await self._delete_and_retry(client, payment)
        else:
            await handle.terminate(reason=f"chaos: {record.description}")
            payment.terminated = True
            # What the saga had recorded when it died (the workload stops polling it now).
            payment.status = msgspec.to_builtins(status)
        record.hit.append(str(payment.payment_id))
        record.last_hit_at_s = time.monotonic() - started

    async def _delete_and_retry(self, client: Client, payment: PaymentRecord) -> None:
        """``temporal workflow delete`` of a finished payment, read through the API first; then,
        once Temporal no longer knows it, the client's retry of its POST with the same key."""
        driver = self.target.driver
        assert payment.payment_id is not None and driver is not None
        await driver.status(payment)
        await delete_execution(client, payment.payment_id)
        payment.deleted = True
        await driver.resubmit(payment)
