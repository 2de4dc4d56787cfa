"""``crash``: a worker killed mid-activity: SIGKILL the moment a payment is seen at a step,
restarted ``down_s`` later.

A ``process`` kill lands wherever the payments happen to be; a crash lands while one of them is
at ``at_step``, so the activity attempt (or workflow task) it was running is lost with the
worker, and Temporal retries it on the restarted one after its timeout. With the ledger's
``after_commit`` delay or a slow provider, the lost attempt has already taken effect: its retry
must be the same debit, the same charge. Its effect is the kill, with the payment it caught.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import TYPE_CHECKING, Annotated, Any, Literal

import msgspec

from chaos.nemesis.base import STEP_POLL_S, Conditions, Driver, FaultBase, Nemesis, Parts, refuse
from chaos.nemesis.process import kill, killed_effect
from chaos.nemesis.workflow import EXPLORED_STEPS, passed, status_at
from chaos.scenario.types import Positive, WorkflowStep
from orchestrator.temporal_client import connect

if TYPE_CHECKING:
    from chaos.scenario.format import Scenario

Worker = Literal["worker-payments", "worker-accounts", "worker-fraud", "worker-notifications"]
#: The worker that runs what a payment does at each step.
RUNS_STEP: dict[str, Worker] = {
    "validate": "worker-accounts",
    "debit": "worker-accounts",
    "charge": "worker-payments",
    "await_confirmation": "worker-payments",
    "await_fraud": "worker-fraud",
    "compensate": "worker-accounts",
    "notify": "worker-notifications",
}


class CrashFault(FaultBase, tag="crash", tag_field="kind", kw_only=True):
    """Kill ``target`` (SIGKILL) when a poller (every 100 ms) first sees any of the run's
    payments at ``at_step``, within the window (``at_s`` to ``at_s + duration_s``); restart it
    ``down_s`` later. At most ``times`` kills per window, each on a fresh sighting."""

    target: Worker
    """The worker killed: ``worker-accounts`` runs validate, debit and refund;
    ``worker-payments`` the saga's workflow tasks, the charge and the void; ``worker-fraud`` the
    fraud check; ``worker-notifications`` the notices."""
    at_step: WorkflowStep
    """The step a payment must be seen at (not ``done``): pick the step whose activity
    ``target`` runs to catch it mid-activity."""
    down_s: Positive = 1.0
    """How long the worker stays dead before it is restarted."""
    times: Annotated[int, msgspec.Meta(ge=1)] = 1
    """Kills in the window, each on a payment not caught before."""


class CrashNemesis(Nemesis[CrashFault]):
    """Polls the payments' steps through the window; kills the worker on a sighting."""

    fault_type = CrashFault
    explored = True
    virtual_fields = ("debit_lost", "charge_lost")

    @classmethod
    def describe(cls, fault: CrashFault) -> str:
        times = f" (up to {fault.times} times)" if fault.times > 1 else ""
        return f"crash {fault.target} at {fault.at_step}{times}"

    @classmethod
    def check(cls, fault: CrashFault, scenario: Scenario, source: str, where: str) -> None:
        if fault.at_step == "done":
            refuse(source, f"{where}.at_step", "a finished payment runs on no worker")

    @classmethod
    def parts(cls, fault: CrashFault) -> Parts:
        return Parts(processes=(fault.target,))

    @classmethod
    def refusal(cls, fault: CrashFault, driver: Driver) -> str | None:
        if driver == "load":
            return "a crash watches the scenario's own payments, and k6 sends others"
        return None

    @classmethod
    def shape(cls, fault: CrashFault, conditions: Conditions) -> None:
        # The model cannot know when a payment reaches the step: the worker is down from the
        # window's start, for as long as a crash keeps it down.
        windows = conditions.down.setdefault(fault.target, [])
        windows.append((fault.at_s, fault.at_s + fault.down_s * fault.times))

    @classmethod
    def generate(cls, rng: random.Random, span: float) -> dict[str, Any]:
        step = rng.choice(EXPLORED_STEPS)
        return {"target": RUNS_STEP[step], "at_step": step, "down_s": rng.choice([0.5, 2])}

    async def run(self, started: float) -> None:
        fault, record, target = self.fault, self.record, self.target
        record.started_at_s = record.applied_at_s = time.monotonic() - started
        assert target.stack.config is not None
        effects: list[tuple[str, bool]] = []
        try:
            client = await connect(target.stack.config)
            finished: set[int] = set()
            end = started + fault.at_s + fault.duration_s
            while time.monotonic() < end and len(effects) < fault.times:
                caught = await self._sighting(client, finished)
                if caught is None:
                    await asyncio.sleep(STEP_POLL_S)
                    continue
                effects.append(await self._crash(caught, started))
        finally:
            record.reverted_at_s = time.monotonic() - started
            if not effects:
                record.effect, record.effective = f"no payment seen at {fault.at_step}", False
            else:
                record.effect = "; ".join(text for text, _ in effects)
                record.effective = all(ok for _, ok in effects)

    async def _sighting(self, client: Any, finished: set[int]) -> str | None:
        """A payment at the step now (its id), if any; payments past it are not asked again."""
        waiting = [
            p
            for p in self.target.payments
            if p.payment_id and p.index not in finished and str(p.payment_id) not in self.record.hit
        ]
        statuses = await asyncio.gather(*(status_at(client, p) for p in waiting))
        for payment, status in zip(waiting, statuses, strict=True):
            if status is None:
                continue
            if status.step == self.fault.at_step:
                return str(payment.payment_id)
            if passed(status, self.fault.at_step):
                finished.add(payment.index)
        return None

    async def _crash(self, payment_id: str, started: float) -> tuple[str, bool]:
        stack, name = self.target.stack, self.fault.target
        process = stack.processes[name]
        pid = process.pid
        self.active = True
        await asyncio.to_thread(kill, process)
        self.record.hit.append(payment_id)
        self.record.last_hit_at_s = time.monotonic() - started
        text, died = killed_effect(pid, process) if pid is not None else ("not running", False)
        await asyncio.sleep(self.fault.down_s)
        await asyncio.to_thread(self.revert)
        return (
            f"{text} with {payment_id} at {self.fault.at_step}; restarted as pid {process.pid}",
            died,
        )

    def revert(self) -> None:
        self.target.stack.restart(self.fault.target)
        self.active = False
