"""Applying and reverting faults, and the rollback that always restores the system.

Each fault is applied at its offset and reverted after its duration by :meth:`FaultInjector.
run_timeline`; whatever happens (an error, Ctrl-C), :meth:`FaultInjector.rollback` reverts every
fault still active, removes every toxic, brings every link up, resumes paused processes and
restarts dead ones. Blocking work (process restarts, Toxiproxy calls) runs in threads so the
workload keeps flowing while a fault is applied.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import msgspec
from prometheus_client import Gauge
from temporalio.client import Client

from chaos.ledger_faults import LedgerLock, heal_ledger, slow_ledger
from chaos.metrics import CHAOS_FAULT_ACTIVE, CHAOS_FAULTS_INJECTED
from chaos.scenario import (
    Fault,
    KnobsFault,
    LedgerFault,
    LinkDownFault,
    ProcessFault,
    Scenario,
    ToxicFault,
    UpgradeFault,
    WorkflowFault,
)
from chaos.workload import PaymentRecord, WorkloadDriver
from orchestrator.failpoints import FILE_NAME as FAILPOINTS_FILE
from orchestrator.models import PaymentState
from orchestrator.partial_links import FILE_NAME as PARTIAL_LINKS_FILE
from orchestrator.partial_links import write_table
from orchestrator.temporal_client import connect, delete_execution
from orchestrator.workflows.builds import CURRENT_BUILD
from orchestrator.workflows.payment import PaymentWorkflow
from runtime.admin_client import patch_knobs
from runtime.links import TWIN
from runtime.processes import free_port
from runtime.stack_view import ProcessView, RunningStack

WORKFLOW_FAULT_POLL_S = 0.1

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
    planned_targets: int | None = None
    """Workflow faults: payments chosen by the seed."""
    hit: list[str] = field(default_factory=list)
    """Workflow faults: the payments actually cancelled or terminated."""
    last_hit_at_s: float | None = None
    effect: str | None = None
    """What the fault was seen to do (PIDs, requests served, bytes through a link)."""
    effective: bool | None = None
    """Whether that effect was seen; None for kinds judged by other verdicts (workflow,
    upgrade, ledger)."""


def describe(fault: Fault) -> str:
    """A short human description of a fault."""
    if isinstance(fault, ToxicFault):
        attrs = ", ".join(f"{k}={v}" for k, v in fault.attributes.items())
        share = f", toxicity {fault.toxicity:g}" if fault.toxicity < 1 else ""
        return (
            f"{fault.toxic} on {fault.link} ({fault.stream}{', ' + attrs if attrs else ''}{share})"
        )
    if isinstance(fault, LinkDownFault):
        return f"link {fault.link} down"
    if isinstance(fault, ProcessFault):
        return f"{fault.action} {fault.target}"
    if isinstance(fault, UpgradeFault):
        return f"roll out build {fault.build}"
    if isinstance(fault, WorkflowFault):
        return f"temporal {fault.action} {fault.share:.0%} at {fault.at_step}"
    if isinstance(fault, LedgerFault):
        if fault.action == "slow":
            return f"ledger slow (+{fault.latency_ms} ms on {', '.join(fault.operations)})"
        return "ledger unavailable"
    return f"{fault.simulator} knobs {fault.set}"


def served(admin_url: str) -> int:
    """Business requests a simulator has answered so far."""
    return int(httpx.get(f"{admin_url}/admin/stats", timeout=5).json()["served"])


def process_effect(
    fault: ProcessFault, before: int | None, process: ProcessView
) -> tuple[str, bool]:
    """Whether a process fault did what it says: the PID died (kill), changed (restart) or the
    process stopped (pause, read from /proc)."""
    if before is None:
        return f"{fault.target} was not running", False
    if fault.action == "kill":
        dead = process.popen is not None and process.popen.returncode == -signal.SIGKILL
        return f"pid {before} killed (exit {process.popen and process.popen.returncode})", dead
    if fault.action == "restart":
        return f"pid {before} replaced by {process.pid}", process.pid not in (None, before)
    paused = getattr(process, "paused", None)
    if paused is not None:  # a container (runtime.compose): docker's own state, not /proc
        return f"{fault.target} {'paused' if paused else 'not paused'}", bool(paused)
    state = "?"
    for _ in range(20):  # SIGSTOP takes a moment to show in /proc
        try:
            state = Path(f"/proc/{before}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return f"pid {before} gone", False
        if state == "T":
            break
        time.sleep(0.05)
    return f"pid {before} in state {state}", state == "T"


def link_down_effect(
    record: FaultRecord, link: str, samples: list[dict[str, Any]], around_s: float = 3.0
) -> tuple[str, bool]:
    """A link taken down, on which no open connection was cut, had an effect if it carried
    traffic just before it went down or just after it came back: something was using it (from
    the sampler's Toxiproxy readings)."""
    if record.applied_at_s is None or record.reverted_at_s is None:
        return "never applied", False
    readings = [
        (s["t"], s["links"][link]) for s in samples if s.get("links") and link in s["links"]
    ]

    def grew(start: float, end: float) -> int:
        inside = [b for t, b in readings if start <= t <= end]
        return max(inside) - min(inside) if len(inside) > 1 else 0

    before = grew(record.applied_at_s - around_s, record.applied_at_s + 0.5)
    after = grew(record.reverted_at_s, record.reverted_at_s + around_s)
    text = f"{before} bytes on {link} in the {around_s:g} s before it went down, {after} after"
    return text, before + after > 0


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


class FaultInjector:
    """Applies a scenario's fault timeline to one stack."""

    def __init__(
        self,
        stack: RunningStack,
        scenario: Scenario,
        payments: list[PaymentRecord] | None = None,
        driver: WorkloadDriver | None = None,
    ) -> None:
        self.stack = stack
        self.scenario = scenario
        self.payments = payments if payments is not None else []
        """The workload's payments, as they are created (workflow faults act on them)."""
        self.driver = driver
        """The workload's client: a ``delete`` reads a payment through it, then retries its
        POST."""
        self._locks: dict[int, LedgerLock] = {}
        self._traffic: dict[int, int] = {}
        self._served: dict[int, int] = {}
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

    @property
    def _failpoints_path(self) -> Path:
        assert self.stack.config is not None
        return Path(self.stack.config.state_dir) / FAILPOINTS_FILE

    def _links(self) -> Any:
        if self.stack.links is None:
            raise RuntimeError("this fault needs Toxiproxy, and the stack runs without it")
        return self.stack.links

    def apply(self, index: int, fault: Fault) -> None:
        """Break something (blocking). Process and link-down faults are judged here; toxics and
        knob changes note a starting count that :meth:`revert` compares with."""
        record = self.records[index]
        if isinstance(fault, ProcessFault):
            pid = self.stack.processes[fault.target].pid
            self._apply(index, fault)
            record.effect, record.effective = process_effect(
                fault, pid, self.stack.processes[fault.target]
            )
        elif isinstance(fault, LinkDownFault):
            carried = self._links().traffic().get(fault.link, 0)
            self._apply(index, fault)
            time.sleep(0.3)  # Toxiproxy counts a cut connection's bytes as it closes
            cut = self._links().traffic().get(fault.link, 0) - carried
            record.effect, record.effective = f"cut {cut} bytes of open connections", cut > 0
        else:
            if isinstance(fault, ToxicFault) and fault.toxicity == 1:
                self._traffic[index] = self._links().traffic().get(fault.link, 0)
            if isinstance(fault, KnobsFault):
                self._served[index] = served(self._admin_url(fault.simulator))
            self._apply(index, fault)  # a partial toxic notes its twin's count itself

    def _apply(self, index: int, fault: Fault) -> None:
        if isinstance(fault, ToxicFault) and fault.toxicity < 1:
            self._apply_partial(index, fault)
        elif isinstance(fault, ToxicFault):
            self._links().add_toxic(
                fault.link, f"fault{index}", fault.toxic, fault.attributes, fault.stream
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
        elif isinstance(fault, LedgerFault):
            if fault.action == "unavailable":
                assert self.stack.config is not None
                lock = LedgerLock(self.stack.config.ledger_path)
                lock.acquire()
                self._locks[index] = lock
            else:
                slow_ledger(
                    self._failpoints_path,
                    fault.operations,
                    fault.latency_ms,
                    after_commit=fault.after_commit,
                    stall=fault.stall,
                )
        elif isinstance(fault, KnobsFault):
            patch_knobs(self._admin_url(fault.simulator), **fault.set)

    def revert(self, index: int, fault: Fault) -> None:
        """Undo one fault (blocking), and judge the effect of the kinds judged at revert."""
        record = self.records[index]
        if isinstance(fault, ToxicFault) and fault.link == "temporal":
            record.effect = "not measured: Toxiproxy counts the gRPC streams' bytes at close"
        elif isinstance(fault, ToxicFault):
            through = fault.link + TWIN if fault.toxicity < 1 else fault.link
            carried = self._links().traffic().get(through, 0) - self._traffic.get(index, 0)
            share = f" (the {fault.toxicity:.0%} drawn)" if fault.toxicity < 1 else ""
            record.effect = f"{carried} bytes through {fault.link}{share} while the toxic was on"
            record.effective = carried > 0
        if isinstance(fault, KnobsFault):
            count = served(self._admin_url(fault.simulator)) - self._served.get(index, 0)
            record.effect = f"{fault.simulator} served {count} requests with the changed knobs"
            record.effective = count > 0
        self._revert(index, fault)
        if isinstance(fault, ProcessFault) and fault.action == "kill":
            record.effect = (
                f"{record.effect}; restarted as pid {self.stack.processes[fault.target].pid}"
            )

    def _apply_partial(self, index: int, fault: ToxicFault) -> None:
        """The toxic on a twin of the link, which its clients use for a seeded share of their
        requests (``orchestrator.partial_links``)."""
        links = self._links()
        twin = links.open_twin(fault.link, free_port())
        links.add_toxic(twin, f"fault{index}", fault.toxic, fault.attributes, fault.stream)
        self._traffic[index] = links.traffic().get(twin, 0)
        table = self._partial_table()
        table[str(links.listen_port(fault.link))] = {
            "link": fault.link,
            "twin_port": links.listen_port(twin),
            "toxicity": fault.toxicity,
            "seed": self.scenario.seed,
            "token": f"{id(self)}:{index}",
        }
        write_table(self._partial_path, table)

    @property
    def _partial_path(self) -> Path:
        assert self.stack.config is not None
        return Path(self.stack.config.state_dir) / PARTIAL_LINKS_FILE

    def _partial_table(self) -> dict[str, dict[str, Any]]:
        try:
            table: dict[str, dict[str, Any]] = json.loads(self._partial_path.read_text())
        except (OSError, ValueError):
            return {}
        return table

    def _revert(self, index: int, fault: Fault) -> None:
        if isinstance(fault, ToxicFault) and fault.toxicity < 1:
            links = self._links()
            port = str(links.listen_port(fault.link))
            write_table(
                self._partial_path,
                {k: v for k, v in self._partial_table().items() if k != port},
            )
            links.close_twin(fault.link)
        elif isinstance(fault, ToxicFault):
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
        elif isinstance(fault, LedgerFault):
            if lock := self._locks.pop(index, None):
                lock.release()
            if fault.action == "slow":
                heal_ledger(self._failpoints_path)

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
        if isinstance(fault, WorkflowFault):
            await self._workflow_fault(index, fault, started)
            return
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

    async def _workflow_fault(self, index: int, fault: WorkflowFault, started: float) -> None:
        """Cancel or terminate each targeted payment when it reaches the step, in the window."""
        record = self.records[index]
        targets = workflow_fault_targets(self.scenario)[index]
        record.planned_targets = len(targets)
        record.started_at_s = record.applied_at_s = time.monotonic() - started
        self._gauge(record).set(1)
        CHAOS_FAULTS_INJECTED.labels(self.scenario.name, record.kind).inc()
        assert self.stack.config is not None
        try:
            client = await connect(self.stack.config)
            done: set[int] = set()
            end = started + fault.at_s + fault.duration_s
            while time.monotonic() < end and len(done) < len(targets):
                waiting = [p for p in self.payments if p.index in targets - done and p.payment_id]
                await asyncio.gather(
                    *(self._hit_at_step(client, fault, p, record, done, started) for p in waiting)
                )
                await asyncio.sleep(WORKFLOW_FAULT_POLL_S)
        except Exception as exc:
            record.error = f"{type(exc).__name__}: {exc}"
            log.exception("fault %s failed", record.description)
        finally:
            record.reverted_at_s = time.monotonic() - started
            self._gauge(record).set(0)

    async def _hit_at_step(
        self,
        client: Any,
        fault: WorkflowFault,
        payment: PaymentRecord,
        record: FaultRecord,
        done: set[int],
        started: float,
    ) -> None:
        handle = client.get_workflow_handle(payment.payment_id)
        try:
            status = await handle.query(PaymentWorkflow.status)
        except Exception:  # closed, or not yet started on a worker: try again on the next poll
            return
        if payment.index in done:
            return
        if status.step != fault.at_step:
            if status.step == "done" or (
                PaymentState(status.state).terminal and fault.at_step not in ("notify", "done")
            ):
                done.add(payment.index)  # it ended before reaching the step: a miss
            return
        done.add(payment.index)
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
        assert payment.payment_id is not None and self.driver is not None
        await self.driver.status(payment)
        await delete_execution(client, payment.payment_id)
        payment.deleted = True
        await self.driver.resubmit(payment)

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
        for lock in self._locks.values():
            lock.release()
            restored.append("released the ledger lock")
        self._locks.clear()
        if self._failpoints_path.exists():
            heal_ledger(self._failpoints_path)
            restored.append("removed the ledger failpoints")
        if self._partial_path.exists():
            self._partial_path.unlink()
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
