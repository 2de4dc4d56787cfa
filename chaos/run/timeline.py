"""The fault timeline of one run, and the rollback that always restores the system.

Each fault's nemesis (:mod:`chaos.nemesis`) is started at its offset and does its own work:
most apply, wait out their window and revert; a workflow fault polls the payments through its
window. Whatever happens (an error, Ctrl-C), :meth:`FaultInjector.rollback` reverts every fault
still active, then has every kind put back what it could have left broken (every toxic removed,
every link up, paused processes resumed and dead ones restarted, the current build rolled out).
Blocking work (process restarts, Toxiproxy calls) runs in threads so the workload keeps flowing
while a fault is applied.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from prometheus_client import Gauge

from chaos.nemesis.base import FaultRecord, Nemesis, Target, sleep_until
from chaos.nemesis.registry import KINDS, describe, nemesis_of
from chaos.run.metrics import CHAOS_FAULT_ACTIVE, CHAOS_FAULTS_INJECTED
from chaos.run.workload import PaymentRecord, WorkloadDriver
from chaos.scenario.format import Scenario
from runtime.stack_view import RunningStack

log = logging.getLogger("chaos.run.timeline")


class FaultInjector:
    """Runs a scenario's fault timeline on one stack."""

    def __init__(
        self,
        stack: RunningStack,
        scenario: Scenario,
        payments: list[PaymentRecord] | None = None,
        driver: WorkloadDriver | None = None,
    ) -> None:
        self.scenario = scenario
        self.target = Target(stack, scenario, payments if payments is not None else [], driver)
        self.records = [
            FaultRecord(i, nemesis_of(f).kind(), describe(f), f.at_s, f.at_s + f.duration_s)
            for i, f in enumerate(scenario.faults)
        ]
        self.nemeses: list[Nemesis[Any]] = [
            nemesis_of(f)(f, record, self.target)
            for f, record in zip(scenario.faults, self.records, strict=True)
        ]

    @property
    def active_descriptions(self) -> list[str]:
        """What is broken right now."""
        return [n.record.description for n in self.nemeses if n.active]

    def _gauge(self, record: FaultRecord) -> Gauge:
        return CHAOS_FAULT_ACTIVE.labels(self.scenario.name, record.kind, record.description)

    async def run_timeline(self, started: float) -> None:
        """Run every fault at its planned time (``started``: the workload's start)."""
        await asyncio.gather(*(self._one(n, started) for n in self.nemeses))

    async def _one(self, nemesis: Nemesis[Any], started: float) -> None:
        record = nemesis.record
        await sleep_until(started + nemesis.fault.at_s)
        self._gauge(record).set(1)
        CHAOS_FAULTS_INJECTED.labels(self.scenario.name, record.kind).inc()
        try:
            await nemesis.run(started)
        except Exception as exc:
            record.error = f"{type(exc).__name__}: {exc}"
            log.exception("fault %s failed", record.description)
        finally:
            if not nemesis.active:
                self._gauge(record).set(0)

    def settle(self, samples: list[dict[str, Any]]) -> None:
        """Judge the effects that show only once the run is over."""
        for nemesis in self.nemeses:
            nemesis.settle(samples)

    def rollback(self, started: float) -> list[str]:
        """Restore everything; returns what had to be restored (for the journal)."""
        restored = []
        for nemesis in reversed(self.nemeses):
            if not nemesis.active:
                continue
            description = nemesis.record.description
            try:
                nemesis.revert()
                restored.append(description)
            except Exception as exc:
                restored.append(f"{description}: revert failed ({exc}); restoring by reset")
            nemesis.active = False
            if nemesis.record.reverted_at_s is None:
                nemesis.record.reverted_at_s = time.monotonic() - started
            self._gauge(nemesis.record).set(0)
        for nemesis in self.nemeses:
            restored += nemesis.close()
        for kind in KINDS:
            restored += kind.restore(self.target)
        return restored
