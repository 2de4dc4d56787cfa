"""Real runs for the model: calibration (service times) and validation (predicted vs measured).

Both drive the real embedded stack with k6 (``chaos.perf.load``), without Toxiproxy, and read what
happened from Temporal (histories, start and close times) and from /proc (CPU per process).
"""

from __future__ import annotations

import asyncio
import resource
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from msgspec.structs import replace

from chaos.perf.bench.costs import cost_of
from chaos.perf.bench.cpu import seconds_used, server_cpu_s, snapshot
from chaos.perf.load import LoadOptions, LoadReport, LoadTest
from chaos.perf.percentiles import percentile
from chaos.perf.simulation.calibration import Calibration
from chaos.perf.simulation.model import SimResult, Topology, merge, simulate
from chaos.run.runner import ScenarioRunner
from chaos.scenario.format import Scenario, find_scenario, load_scenario
from orchestrator.temporal_client import connect
from runtime.embedded import EmbeddedStack, StackOptions
from runtime.process_names import Backend
from runtime.processes import process_pids
from runtime.prometheus import SCRAPE_INTERVAL_S, query
from runtime.scratch import scratch_state_dir

MODEL_SEEDS = 10
#: How far over its backoff the first retry's gap must be to be read as the server's floor.
FLOOR_MARGIN_S = 0.5
RETRY_RATE = 2.0
RETRY_DURATION_S = 20
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


#: Account activities of a happy payment: one validated debit (the validated-debit patch).
ACCOUNT_CALLS = 1


@contextmanager
def _stack(
    prefix: str, backend: Backend = "dev", state_dir: Path | None = None
) -> Iterator[EmbeddedStack]:
    """A started stack of its own: in ``state_dir`` (kept), or in a scratch state directory
    removed once it has stopped."""
    with ExitStack() as scratch:
        path = state_dir or scratch.enter_context(scratch_state_dir(prefix)).path
        options = StackOptions(state_dir=path, ui=False, toxiproxy="off", backend=backend)
        with EmbeddedStack(options) as stack:
            yield stack


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
    backend: Backend = "dev",
    state_dir: Path | None = None,
) -> tuple[Calibration, Measured]:
    """Measure service times on a happy-path run at a low rate; fit ``hop_s`` to its median.

    On the cluster backend the server's CPU is its four services' and PostgreSQL's (which
    holds the ledger too), and the account workers' is both workers'."""
    scenario = load_scenario(find_scenario("happy-path"))
    with _stack("saga-calibrate-", backend, state_dir) as stack:
        # Apply the scenario first: a settings change restarts the API, and a new process
        # would escape the CPU snapshot.
        ScenarioRunner(stack).prepare(scenario, "calibrate")
        pids = process_pids(stack.processes)
        before = snapshot(pids)
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        progress(f"real run: happy-path at {rate:g}/s for {duration_s}s ...")
        report = _load(stack, scenario, rate, duration_s)
        cpu = seconds_used(before, snapshot(pids))
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu["k6"] = (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
        ids = sorted(report.final_states)[:20]
        parent_tasks, child_tasks, events = asyncio.run(_history_costs(stack, ids))
        progress(f"real run: flaky-provider at {RETRY_RATE:g}/s for {RETRY_DURATION_S}s ...")
        flaky = load_scenario(find_scenario("flaky-provider"))
        _load(stack, flaky, RETRY_RATE, RETRY_DURATION_S)
        retry_gap = measured_retry_gap(stack)
    n = len(report.final_states)
    requests = (report.k6.metric("http_reqs", "count") or 0) + n  # k6's, plus one webhook each
    measured = _reduce("happy-path", rate, report)
    cal = Calibration(
        server_event_s=server_cpu_s(cpu) / (n * events),
        payments_task_s=cpu.get("worker-payments", 0.0) / (n * parent_tasks),
        fraud_task_s=cpu.get("worker-fraud", 0.0) / (n * (child_tasks + 1)),
        accounts_activity_s=sum(
            seconds for name, seconds in cpu.items() if name.startswith("worker-accounts")
        )
        / (n * ACCOUNT_CALLS),
        notify_activity_s=cpu.get("worker-notifications", 0.0) / n,
        api_request_s=cpu.get("api", 0.0) / requests,
        simulator_request_s=sum(
            cpu.get(s, 0.0) for s in ("sim-provider", "sim-fraud", "sim-notify")
        )
        / (n * 3),
        background_per_payment_s=sum(cpu.get(s, 0.0) for s in ("k6", "prometheus", "toxiproxy"))
        / n,
        events_per_payment=events,
        machine_cores=2,
        backend=backend,
        source=f"{backend} backend: happy-path at {rate:g}/s for {duration_s}s on this machine"
        f" ({n} payments), retries from flaky-provider at {RETRY_RATE:g}/s",
    )
    cal = fit_hop(cal, scenario, rate, duration_s, measured.p50_s)
    cal = retry_costs(cal, retry_gap, flaky.settings.charge_retry.initial_interval_s)
    progress(f"fitted hop {cal.hop_s * 1000:.1f} ms to the measured median {measured.p50_s:.3f}s")
    return cal, measured


def retry_costs(cal: Calibration, first_gap: float, backoff: float) -> Calibration:
    """The retry floor and overhead from the measured gap before the first retry.

    When that gap is more than half a second over its backoff, the server's floor decided it
    (with ``history.timerProcessorMaxTimeShift`` at its 1 s default every retry waited about
    1 s): the gap, less the failed attempt's own trips, is the floor. Otherwise a retry waits
    its backoff plus an overhead: the gap less the backoff and less what the model counts for
    the failed attempt itself (three history events and the provider's request).
    """
    if first_gap > backoff + FLOOR_MARGIN_S:
        return replace(cal, retry_floor_s=max(0.0, first_gap - 2 * cal.hop_s), retry_overhead_s=0)
    attempt = 3 * cal.server_event_s + cal.simulator_request_s
    return replace(cal, retry_floor_s=0.0, retry_overhead_s=max(0.0, first_gap - backoff - attempt))


def measured_retry_gap(stack: EmbeddedStack) -> float:
    """The mean time from a charge's first schedule to its second attempt, from Prometheus
    (0.0 when no charge was retried): ``saga_activity_retry_delay_seconds{attempt=2}``, the
    first attempt, its failure, the first backoff and the retry's dispatch."""
    assert stack.prometheus_url, "calibration reads retry delays from Prometheus"
    time.sleep(2 * SCRAPE_INTERVAL_S + 1)
    selector = '{activity="charge_payment"}'

    def by_attempt(metric: str) -> dict[int, float]:
        rows = query(stack.prometheus_url or "", f"sum by (attempt) ({metric}{selector})")
        return {
            int(str(r["metric"]["attempt"])): float(r["value"][1])  # type: ignore[index]
            for r in rows
            if str(r["metric"]["attempt"]).isdigit()  # type: ignore[index]
        }

    sums = by_attempt("saga_activity_retry_delay_seconds_sum")
    counts = by_attempt("saga_activity_retry_delay_seconds_count")
    if not counts.get(2):
        return 0.0
    return sums[2] / counts[2]


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


def average(runs: list[Measured]) -> Measured:
    """Repeated real runs of one point as one measurement (means of each figure)."""
    first = runs[0]
    states = {s for run in runs for s in run.shares}
    return Measured(
        first.scenario,
        first.rate,
        sum(r.throughput for r in runs) / len(runs),
        sum(r.p50_s for r in runs) / len(runs),
        sum(r.p99_s for r in runs) / len(runs),
        {s: sum(r.shares.get(s, 0.0) for r in runs) / len(runs) for s in sorted(states)},
        sum(r.payments for r in runs),
    )


def validate(
    cal: Calibration,
    rates: list[float],
    duration_s: int = 30,
    repeat: int = 2,
    progress: Callable[[str], None] = print,
    state_dir: Path | None = None,
) -> list[tuple[Measured, SimResult]]:
    """For each validation scenario and rate: real runs (``repeat`` of them, averaged: one
    30-second run's p99 is its largest latency or nearly) on the backend the calibration was
    measured on, and the model's prediction.

    Each point runs on a fresh stack, as the model starts each run from nothing: on one stack
    reused for all the runs, the later runs grew multi-second tails that a fresh stack at the
    same point did not show."""
    pairs = []
    backend: Backend = "cluster" if cal.backend == "cluster" else "dev"
    for name in VALIDATION_SCENARIOS:
        scenario = load_scenario(find_scenario(name))
        for rate in rates:
            progress(f"{name} at {rate:g}/s: {repeat} real run(s) on a fresh stack ...")
            point_dir = state_dir / f"{name}-{rate:g}" if state_dir else None
            with _stack("saga-validate-", backend, point_dir) as stack:
                real = average(
                    [
                        _reduce(name, rate, _load(stack, scenario, rate, duration_s))
                        for _ in range(repeat)
                    ]
                )
            model = merge(
                [
                    simulate(scenario, cal, Topology.machine(), rate, duration_s, seed=seed)
                    for seed in range(11, 11 + MODEL_SEEDS)
                ]
            )
            progress(
                f"    measured {real.throughput:.2f}/s p50 {real.p50_s:.2f}s p99 "
                f"{real.p99_s:.2f}s | model {model.throughput:.2f}/s p50 "
                f"{model.latency(50):.2f}s p99 {model.latency(99):.2f}s"
            )
            pairs.append((real, model))
    return pairs
