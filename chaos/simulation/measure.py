"""Real runs for the model: calibration (service times) and validation (predicted vs measured).

Both drive the real embedded stack with k6 (``chaos.load``), without Toxiproxy, and read what
happened from Temporal (histories, start and close times) and from /proc (CPU per process).
"""

from __future__ import annotations

import asyncio
import resource
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from chaos.bench.costs import cost_of
from chaos.bench.cpu import seconds_used, snapshot
from chaos.load import LoadOptions, LoadReport, LoadTest
from chaos.scenario import Scenario, find_scenario, load_scenario
from chaos.simulation.calibration import Calibration
from chaos.simulation.model import SimResult, Topology, simulate
from orchestrator.stack.embedded import EmbeddedStack, StackOptions
from orchestrator.stats import percentile
from orchestrator.temporal_client import connect

SUCCESS_ONLY = {"success": 1.0, "decline": 0.0, "cancel": 0.0}
VALIDATION_SCENARIOS = ("happy-path", "flaky-provider", "missing-callback")


@dataclass
class Measured:
    """One real run, reduced to what the model predicts."""

    scenario: str
    rate: float
    throughput: float
    p50_s: float
    p99_s: float
    shares: dict[str, float]
    payments: int


def _stack(state_dir: Path) -> EmbeddedStack:
    return EmbeddedStack(StackOptions(state_dir=state_dir, ui=False, toxiproxy="off"))


def _reduce(scenario: str, rate: float, report: LoadReport) -> Measured:
    states = Counter(report.final_states.values())
    total = sum(states.values()) or 1
    durations = report.saga_durations_s
    window = report.window_s or 1.0
    return Measured(
        scenario,
        rate,
        len(durations) / window,
        percentile(durations, 50),
        percentile(durations, 99),
        {k: v / total for k, v in sorted(states.items())},
        total,
    )


def _load(stack: EmbeddedStack, scenario: Scenario, rate: float, duration_s: int) -> LoadReport:
    options = LoadOptions(
        rate=rate, duration=f"{duration_s}s", scenario=scenario, mix=SUCCESS_ONLY, api_p95_ms=1e6
    )
    return LoadTest(stack).run(options)


def calibrate(
    rate: float = 3.0,
    duration_s: int = 30,
    progress: Callable[[str], None] = print,
) -> tuple[Calibration, Measured]:
    """Measure service times on a happy-path run at a low rate; fit ``hop_s`` to its median."""
    scenario = load_scenario(find_scenario("happy-path"))
    with _stack(Path(tempfile.mkdtemp(prefix="saga-calibrate-"))) as stack:
        pids = {name: p.pid for name, p in stack.processes.items() if p.pid}
        before = snapshot(pids)
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        progress(f"real run: happy-path at {rate:g}/s for {duration_s}s ...")
        report = _load(stack, scenario, rate, duration_s)
        cpu = seconds_used(before, snapshot(pids))
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu["k6"] = (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
        ids = sorted(report.final_states)[:20]
        parent_tasks, child_tasks, events = asyncio.run(_history_costs(stack, ids))
    n = len(report.final_states)
    requests = (report.k6.metric("http_reqs", "count") or 0) + n  # k6's, plus one webhook each
    measured = _reduce("happy-path", rate, report)
    cal = Calibration(
        server_event_s=cpu.get("temporal", 0.0) / (n * events),
        payments_task_s=cpu.get("worker-payments", 0.0) / (n * parent_tasks),
        fraud_task_s=cpu.get("worker-fraud", 0.0) / (n * (child_tasks + 1)),
        accounts_activity_s=cpu.get("worker-accounts", 0.0) / (n * 3),
        notify_activity_s=cpu.get("worker-notifications", 0.0) / n,
        api_request_s=cpu.get("api", 0.0) / requests,
        simulator_request_s=sum(
            cpu.get(s, 0.0) for s in ("sim-provider", "sim-fraud", "sim-notify")
        )
        / (n * 3),
        background_per_payment_s=sum(cpu.get(s, 0.0) for s in ("k6", "prometheus", "toxiproxy"))
        / n,
        api_requests_per_payment=requests / n,
        events_per_payment=events,
        machine_cores=2,
        source=f"happy-path at {rate:g}/s for {duration_s}s on this machine ({n} payments)",
    )
    cal = fit_hop(cal, scenario, rate, duration_s, measured.p50_s)
    progress(f"fitted hop {cal.hop_s * 1000:.1f} ms to the measured median {measured.p50_s:.3f}s")
    return cal, measured


async def _history_costs(stack: EmbeddedStack, ids: list[str]) -> tuple[float, float, float]:
    assert stack.config is not None
    client = await connect(stack.config)
    parents, children, events = [], [], []
    for payment_id in ids:
        parent = cost_of(await client.get_workflow_handle(payment_id).fetch_history())
        child = cost_of(
            await client.get_workflow_handle(f"{payment_id}-fraud").fetch_history(), child=True
        )
        parents.append(parent.workflow_tasks)
        children.append(child.workflow_tasks)
        events.append(parent.events + child.events)
    count = max(1, len(ids))
    return sum(parents) / count, sum(children) / count, sum(events) / count


def fit_hop(
    cal: Calibration, scenario: Scenario, rate: float, duration_s: float, target_p50_s: float
) -> Calibration:
    """Solve for the non-CPU latency per server trip: the model's median is linear in it."""
    probe = 0.01

    def median(hop: float) -> float:
        result = simulate(
            scenario, replace(cal, hop_s=hop), Topology.machine(), rate, duration_s, seed=7
        )
        return result.latency(50)

    base, with_probe = median(0.0), median(probe)
    slope = (with_probe - base) / probe
    hop = max(0.0, (target_p50_s - base) / slope) if slope > 0 else 0.0
    return replace(cal, hop_s=hop)


def validate(
    cal: Calibration,
    rates: list[float],
    duration_s: int = 30,
    progress: Callable[[str], None] = print,
) -> list[tuple[Measured, SimResult]]:
    """For each validation scenario and rate: a real run and the model's prediction."""
    pairs = []
    with _stack(Path(tempfile.mkdtemp(prefix="saga-validate-"))) as stack:
        for name in VALIDATION_SCENARIOS:
            scenario = load_scenario(find_scenario(name))
            for rate in rates:
                progress(f"{name} at {rate:g}/s: real run ...")
                real = _reduce(name, rate, _load(stack, scenario, rate, duration_s))
                model = simulate(scenario, cal, Topology.machine(), rate, duration_s, seed=11)
                progress(
                    f"    measured {real.throughput:.2f}/s p50 {real.p50_s:.2f}s p99 "
                    f"{real.p99_s:.2f}s | model {model.throughput:.2f}/s p50 "
                    f"{model.latency(50):.2f}s p99 {model.latency(99):.2f}s"
                )
                pairs.append((real, model))
    return pairs
