"""Applying and reverting faults, and the rollback that always restores the system.

Each fault is applied at its offset and reverted after its duration by :meth:`FaultInjector.
run_timeline`; whatever happens (an error, Ctrl-C), :meth:`FaultInjector.rollback` reverts every
fault still active, removes every toxic, brings every link up, resumes paused processes and
restarts dead ones. Blocking work (process restarts, Toxiproxy calls) runs in threads so the
workload keeps flowing while a fault is applied.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from dataclasses import dataclass
from typing import Any

import msgspec
from prometheus_client import Gauge

from chaos.scenario import (
    Fault,
    KnobsFault,
    LinkDownFault,
    ProcessFault,
    Scenario,
    ToxicFault,
    UpgradeFault,
)
from orchestrator.client import patch_knobs
from orchestrator.metrics import CHAOS_FAULT_ACTIVE, CHAOS_FAULTS_INJECTED
from orchestrator.stack.embedded import EmbeddedStack
from orchestrator.workflows.builds import CURRENT_BUILD

log = logging.getLogger("chaos.faults")


@dataclass
class FaultRecord:
    """When a fault was applied and reverted, relative to the start of the workload."""

    index: int
    kind: str
    description: str
    planned_at_s: float
    planned_until_s: float
    started_at_s: float | None = None
    applied_at_s: float | None = None
    reverted_at_s: float | None = None
    error: str | None = None


def describe(fault: Fault) -> str:
    """A short human description of a fault."""
    if isinstance(fault, ToxicFault):
        attrs = ", ".join(f"{k}={v}" for k, v in fault.attributes.items())
        return f"{fault.toxic} on {fault.link} ({fault.stream}{', ' + attrs if attrs else ''})"
    if isinstance(fault, LinkDownFault):
        return f"link {fault.link} down"
    if isinstance(fault, ProcessFault):
        return f"{fault.action} {fault.target}"
    if isinstance(fault, UpgradeFault):
        return f"roll out build {fault.build}"
    return f"{fault.simulator} knobs {fault.set}"


class FaultInjector:
    """Applies a scenario's fault timeline to one stack."""

    def __init__(self, stack: EmbeddedStack, scenario: Scenario) -> None:
        self.stack = stack
        self.scenario = scenario
        self.records = [
            FaultRecord(
                i,
                str(type(f).__struct_config__.tag),
                describe(f),
                f.at_s,
                f.at_s + f.duration_s,
            )
            for i, f in enumerate(scenario.faults)
        ]
        self.active: dict[int, Fault] = {}

    @property
    def active_descriptions(self) -> list[str]:
        """What is broken right now."""
        return [describe(f) for f in self.active.values()]

    def _admin_url(self, simulator: str) -> str:
        assert self.stack.config is not None
        urls = self.stack.config.admin_urls
        return {"provider": urls.provider, "fraud": urls.fraud, "notifications": urls.notify}[
            simulator
        ]

    def _links(self) -> Any:
        if self.stack.links is None:
            raise RuntimeError("this fault needs Toxiproxy, and the stack runs without it")
        return self.stack.links

    def apply(self, index: int, fault: Fault) -> None:
        """Break something (blocking)."""
        if isinstance(fault, ToxicFault):
            self._links().add_toxic(
                fault.link,
                f"fault{index}",
                fault.toxic,
                fault.attributes,
                fault.stream,
                fault.toxicity,
            )
        elif isinstance(fault, LinkDownFault):
            self._links().set_enabled(fault.link, False)
        elif isinstance(fault, ProcessFault):
            process = self.stack.processes[fault.target]
            if fault.action == "kill":
                process.signal(signal.SIGKILL)
                assert process.popen is not None
                process.popen.wait(timeout=10)
            elif fault.action == "pause":
                process.signal(signal.SIGSTOP)
            else:
                self.stack.restart(fault.target)
        elif isinstance(fault, UpgradeFault):
            self.stack.deploy(fault.build, drain_s=fault.duration_s)
        else:
            patch_knobs(self._admin_url(fault.simulator), **fault.set)

    def revert(self, index: int, fault: Fault) -> None:
        """Undo one fault (blocking)."""
        if isinstance(fault, ToxicFault):
            self._links().remove_toxic(fault.link, f"fault{index}")
        elif isinstance(fault, LinkDownFault):
            self._links().set_enabled(fault.link, True)
        elif isinstance(fault, ProcessFault):
            if fault.action == "kill":
                self.stack.restart(fault.target)
            elif fault.action == "pause":
                self.stack.processes[fault.target].signal(signal.SIGCONT)
        elif isinstance(fault, KnobsFault):
            base = msgspec.to_builtins(getattr(self.scenario.simulators, fault.simulator))
            patch_knobs(self._admin_url(fault.simulator), **{k: base[k] for k in fault.set})

    def _gauge(self, record: FaultRecord) -> Gauge:
        return CHAOS_FAULT_ACTIVE.labels(self.scenario.name, record.kind, record.description)

    async def run_timeline(self, started: float) -> None:
        """Apply and revert every fault at its planned time."""
        await asyncio.gather(
            *(self._one(i, f, started) for i, f in enumerate(self.scenario.faults))
        )

    async def _one(self, index: int, fault: Fault, started: float) -> None:
        record = self.records[index]
        await asyncio.sleep(max(0.0, started + fault.at_s - time.monotonic()))
        try:
            self.active[index] = fault
            record.started_at_s = time.monotonic() - started
            self._gauge(record).set(1)
            CHAOS_FAULTS_INJECTED.labels(self.scenario.name, record.kind).inc()
            await asyncio.to_thread(self.apply, index, fault)
            record.applied_at_s = time.monotonic() - started
            await asyncio.sleep(
                max(0.0, started + fault.at_s + fault.duration_s - time.monotonic())
            )
            await asyncio.to_thread(self.revert, index, fault)
            self.active.pop(index, None)
            record.reverted_at_s = time.monotonic() - started
            self._gauge(record).set(0)
        except Exception as exc:
            record.error = f"{type(exc).__name__}: {exc}"
            log.exception("fault %s failed", record.description)

    def rollback(self, started: float) -> list[str]:
        """Restore everything; returns what had to be restored (for the journal)."""
        restored = []
        for index, fault in reversed(list(self.active.items())):
            try:
                self.revert(index, fault)
                restored.append(describe(fault))
            except Exception as exc:
                restored.append(f"{describe(fault)}: revert failed ({exc}); restoring by reset")
            if self.records[index].reverted_at_s is None:
                self.records[index].reverted_at_s = time.monotonic() - started
            self._gauge(self.records[index]).set(0)
        self.active.clear()
        if self.stack.links is not None:
            self.stack.links.reset()
        for name, process in self.stack.processes.items():
            process.signal(signal.SIGCONT)
            if not process.running:
                self.stack.restart(name)
                restored.append(f"restarted {name}")
        if self.stack.build != CURRENT_BUILD:
            self.stack.deploy(CURRENT_BUILD, drain_s=1.0)
            restored.append(f"rolled out the current build {CURRENT_BUILD}")
        return restored
