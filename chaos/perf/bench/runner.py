"""One benchmark run on one stack: the ceiling, then k6 at rising rates, then the cost per payment.

The full system runs with the simulators at zero delay (the callback is sent at once) and
without Toxiproxy, so what is measured is the saga, not the fault injector. Each k6 step offers
a constant arrival rate of successful payments; the run stops when the achieved rate falls
below 90% of the offered one, the saga p99 passes the bound, or throughput stops growing.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import secrets
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from chaos.perf.bench.ceiling import CeilingResult, run_ceiling
from chaos.perf.bench.costs import Cost, cost_of
from chaos.perf.bench.cpu import seconds_used, server_cpu_s, snapshot
from chaos.perf.k6 import run_k6
from chaos.perf.load import LOAD_USER_BALANCE, PAYMENTS_SCRIPT, saga_ends
from chaos.perf.percentiles import percentile
from orchestrator.models import SagaOptions
from orchestrator.temporal_client import connect
from runtime.embedded import BENCH_NAMESPACE, EmbeddedStack, StackOptions
from runtime.process_names import Backend
from runtime.processes import process_pids

#: What drives the load, not the system under test (left out of the CPU per payment).
DRIVER = "bench (ceiling workers, driver)"
LOAD_PROCESSES = ("k6", DRIVER)
#: k6 waits for each saga's end with one ``GET /payments/{id}?wait=10`` (a long poll), as a
#: client that only needs the outcome should; 0 polls ``/state`` like ``saga load``'s default.
K6_WAIT_S = 10

ZERO_DELAY = {
    "provider": '{"callback_delay_ms": 0, "latency_ms": 0}',
    "fraud": '{"delay_ms": 0}',
    "notify": '{"latency_ms": 0}',
}


@dataclass
class Step:
    """One k6 arrival rate."""

    rate: float
    duration_s: float
    created: int
    dropped: int
    finished: int
    succeeded: int
    saga_latencies_s: list[float]
    api_p50_ms: float
    api_p95_ms: float
    api_p99_ms: float
    cpu_s: dict[str, float]
    payment_ids: list[str] = field(default_factory=list)

    @property
    def achieved(self) -> float:
        """Payments per second that started and succeeded."""
        return self.succeeded / self.duration_s

    def saga(self, p: float) -> float:
        """Saga latency percentile, start to close, from Temporal (seconds)."""
        return percentile(self.saga_latencies_s, p)

    @property
    def system_cpu_s(self) -> float:
        """CPU seconds of the system under test in this step (the load generator and the
        bench's own driver left out)."""
        return sum(s for name, s in self.cpu_s.items() if name not in LOAD_PROCESSES)

    @property
    def cpu_ms_per_payment(self) -> dict[str, float]:
        """CPU milliseconds per succeeded payment of this step, per process of the system under
        test."""
        return {
            name: 1000 * seconds / max(1, self.succeeded)
            for name, seconds in self.cpu_s.items()
            if name not in LOAD_PROCESSES
        }


@dataclass
class BenchResult:
    """Everything ``saga bench`` measured."""

    ceiling: CeilingResult
    ceiling_cpu_s: dict[str, float]
    steps: list[Step]
    cost: Cost
    cost_samples: int
    ceiling_cost: Cost
    p99_bound_s: float
    stop_reason: str
    backend: str = "dev"
    k6_wait_s: int = 0
    """How k6 waited for each saga's end: ``GET /payments/{id}?wait=`` of this many seconds,
    or (0) polling ``GET /payments/{id}/state``, then one full read."""
    ceiling_after: CeilingResult | None = None
    """The ceiling again after the climb, on the same (now older, busier) stack: how far the
    ceiling drifted within the run."""

    @property
    def cpu_ms_per_payment(self) -> dict[str, float]:
        """CPU milliseconds per succeeded payment of the best step, per process of the system
        under test. At the best step the machine is saturated, so this falls as the knee rises:
        :attr:`half_knee` gives the same figure at an unsaturated rate."""
        return self.best.cpu_ms_per_payment

    @property
    def marginal_cpu(self) -> tuple[float, float] | None:
        """``(ms per payment, CPU-seconds per step)``: a least-squares line through each held
        step's CPU-seconds (system under test) against its succeeded payments. The slope is
        what one more payment costs; the intercept is the background every step pays whatever
        its rate (pollers, timers, scrapes), which inflates the per-payment figure of slow
        steps. None with fewer than two held steps of different sizes."""
        held = [step for step in self.steps if step.saga(99) <= self.p99_bound_s]
        points = [(float(step.succeeded), step.system_cpu_s) for step in held]
        if len({x for x, _ in points}) < 2:
            return None
        mean_x = sum(x for x, _ in points) / len(points)
        mean_y = sum(y for _, y in points) / len(points)
        slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / sum(
            (x - mean_x) ** 2 for x, _ in points
        )
        return 1000 * slope, mean_y - slope * mean_x

    @property
    def ceiling_cpu_ms_per_saga(self) -> float:
        """CPU milliseconds per no-op saga of the ceiling run, every process included (its
        workers are the bench's driver): the same run's baseline for the CPU per payment,
        meant to take the machine's speed on the day out of the comparison (it takes out only
        part of it: BENCHMARKS.md, "Second round")."""
        sagas = self.ceiling.payments + self.ceiling.warmup
        return 1000 * sum(self.ceiling_cpu_s.values()) / max(1, sagas)

    @property
    def server_cpu_ms_per_payment(self) -> float:
        """The Temporal server's share of :attr:`cpu_ms_per_payment` (its database included)."""
        return server_cpu_s(self.cpu_ms_per_payment)

    @property
    def best(self) -> Step:
        """The step with the highest achieved throughput within the p99 bound."""
        good = [s for s in self.steps if s.saga(99) <= self.p99_bound_s] or self.steps
        return max(good, key=lambda s: s.achieved)

    @property
    def half_knee(self) -> Step:
        """The step whose offered rate is nearest half the best step's (the higher on a tie:
        its p99 is the harder one to hold)."""
        target = self.best.rate / 2
        return min(self.steps, key=lambda s: (abs(s.rate - target), -s.rate))

    @property
    def ratio(self) -> float:
        """Full-system throughput as a share of the ceiling."""
        return self.best.achieved / self.ceiling.throughput


def _failure(step: Step, previous: Step | None, p99_bound_s: float) -> str | None:
    """Why a step did not hold (None: it held): the saga p99 passed the bound, the achieved
    rate fell under 90% of the offered one, or it grew less than 5% over the last good step."""
    if step.saga(99) > p99_bound_s:
        return f"saga p99 passed {p99_bound_s:g}s at {step.rate:g}/s"
    if step.achieved < 0.9 * step.rate:
        return f"achieved under 90% of the offered {step.rate:g}/s"
    if previous is not None and step.achieved < 1.05 * previous.achieved:
        return f"throughput stopped growing at {step.rate:g}/s"
    return None


#: How far past the listed rates the climb may go, as a multiple of the ceiling.
CLIMB_BEYOND_CEILING = 1.5


def _rates_to_climb(rates: list[float], beyond: float | None) -> Iterator[float]:
    """The listed rates, then (up to ``beyond``) on by the list's last increment; a single
    rate has no increment and is climbed alone. The caller stops at the first rate that does
    not hold."""
    yield from rates
    if beyond is None or len(rates) < 2:
        return
    increment = rates[-1] - rates[-2]
    rate = rates[-1] + increment
    while increment > 0 and rate <= beyond:
        yield rate
        rate += increment


class Bench:
    """Runs the benchmark on a stack it starts and stops."""

    def __init__(
        self,
        state_dir: Path,
        progress: Callable[[str], None] = print,
        backend: Backend = "dev",
        k6_wait_s: int = K6_WAIT_S,
    ) -> None:
        self.state_dir = state_dir
        self._say = progress
        self._began = time.monotonic()
        self.backend = backend
        self.k6_wait_s = k6_wait_s
        self.stack = EmbeddedStack(
            StackOptions(
                state_dir=state_dir,
                backend=backend,
                ui=False,
                toxiproxy="off",
                # No velocity limit in the way of a load test.
                saga=SagaOptions(velocity_max_payments=1_000_000),
                provider_knobs=ZERO_DELAY["provider"],
                fraud_knobs=ZERO_DELAY["fraud"],
                notify_knobs=ZERO_DELAY["notify"],
            )
        )

    def progress(self, line: str) -> None:
        """A progress line, with the time the benchmark has run so far (the climb's length
        depends on where the knee is, so no estimate of the rest)."""
        self._say(f"[{time.monotonic() - self._began:5.0f}s] {line}")

    def _pids(self) -> dict[str, int]:
        pids = process_pids(self.stack.processes)
        pids[DRIVER] = os.getpid()
        return pids

    def run(
        self,
        rates: list[float],
        step_s: int = 20,
        p99_bound_s: float = 5.0,
        ceiling_payments: int = 300,
        bisect: int = 3,
    ) -> BenchResult:
        """The whole benchmark; the stack is stopped on every path. After the first rate that
        does not hold, up to ``bisect`` more steps halve the gap to the last one that did."""
        self._began = time.monotonic()
        with self.stack:
            return asyncio.run(self._run(rates, step_s, p99_bound_s, ceiling_payments, bisect))

    async def _run(
        self,
        rates: list[float],
        step_s: int,
        p99_bound_s: float,
        ceiling_payments: int,
        bisect: int,
    ) -> BenchResult:
        config = self.stack.config
        assert config is not None
        self.progress(f"1/3 ceiling: {ceiling_payments} no-op sagas, 40 in flight ...")
        before = snapshot(self._pids(), alone=[DRIVER])
        ceiling = await run_ceiling(config, payments=ceiling_payments)
        ceiling_cpu = seconds_used(before, snapshot(self._pids(), alone=[DRIVER]))
        self.progress(
            f"    {ceiling.throughput:.1f} payments/s, "
            f"p50 {percentile(ceiling.latencies_s, 50):.2f}s"
        )
        ceiling_cost, _ = await self._cost_of_ids(
            await self._recent_bench_ids(), namespace=BENCH_NAMESPACE
        )

        self.progress("2/3 full system: k6 through the API at rising arrival rates ...")
        steps, stop_reason = await self.climb(
            rates, step_s, p99_bound_s, bisect, beyond=CLIMB_BEYOND_CEILING * ceiling.throughput
        )

        self.progress(f"3/3 the ceiling again ({ceiling_payments} no-op sagas), then the cost ...")
        ceiling_after = await run_ceiling(config, payments=ceiling_payments)
        self.progress(f"    {ceiling_after.throughput:.1f} payments/s after the climb")
        best = max(steps, key=lambda s: s.achieved)
        cost, samples = await self._cost_of_ids(best.payment_ids[:20])
        return BenchResult(
            ceiling,
            ceiling_cpu,
            steps,
            cost,
            samples,
            ceiling_cost,
            p99_bound_s,
            stop_reason,
            self.backend,
            self.k6_wait_s,
            ceiling_after,
        )

    async def climb(
        self,
        rates: list[float],
        step_s: int,
        p99_bound_s: float,
        bisect: int,
        beyond: float | None = None,
    ) -> tuple[list[Step], str]:
        """k6 steps at each rate until one does not hold, then up to ``bisect`` steps between
        the last rate that held and the first that did not; the steps and why it stopped. When
        every listed rate holds, it goes on climbing by the list's last increment while the
        next rate is at most ``beyond`` (the run passes 1.5 x the ceiling), so that a system
        faster than the list still has its knee bracketed."""
        steps: list[Step] = []
        stop_reason = "every offered rate held"
        good: Step | None = None
        bad: Step | None = None
        for rate in _rates_to_climb(rates, beyond):
            step = await self._logged_step(rate, step_s)
            steps.append(step)
            failed = _failure(step, good, p99_bound_s)
            if failed:
                stop_reason, bad = failed, step
                break
            good = step
        for _ in range(bisect if good and bad else 0):
            # Between the last rate that held and the first that did not, to see the knee.
            assert good is not None and bad is not None
            if bad.rate - good.rate <= max(0.5, 0.05 * good.rate):
                break
            step = await self._logged_step(round((good.rate + bad.rate) / 2, 2), step_s)
            steps.append(step)
            failed = _failure(step, good, p99_bound_s)
            if failed:
                bad = step
            else:
                good = step
        if good and bad and bisect:
            stop_reason += f"; bisected to {good.rate:g}/s held, {bad.rate:g}/s did not"
        return steps, stop_reason

    async def _logged_step(self, rate: float, step_s: int) -> Step:
        step = await self._step(rate, step_s)
        self.progress(
            f"    {rate:g}/s offered: {step.achieved:.1f}/s succeeded, saga p99 "
            f"{step.saga(99):.2f}s, API p95 {step.api_p95_ms:.0f} ms, dropped {step.dropped}"
        )
        return step

    async def _step(self, rate: float, step_s: int) -> Step:
        config = self.stack.config
        assert config is not None
        testid = f"bench-{secrets.token_hex(3)}"
        user = f"{testid}-payer"
        self.stack.add_account(config, user, LOAD_USER_BALANCE)
        env = {
            "API_URL": config.api_url,
            "API_KEYS": json.dumps({user: self.stack.api_keys[user]}),
            "USERS": user,
            "RATE": f"{rate:g}",
            "DURATION": f"{step_s}s",
            "TESTID": testid,
            "MIX": json.dumps({"success": 1.0, "decline": 0.0, "cancel": 0.0}),
            "API_P95_MS": "100000",
            "MIN_EXPECTED": "0",
            "WAIT_S": str(self.k6_wait_s),
        }
        pids = self._pids()
        before = snapshot(pids, alone=[DRIVER])
        children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        result = await asyncio.to_thread(
            run_k6,
            PAYMENTS_SCRIPT,
            env,
            self.stack.state_dir / "bench" / testid,
            prometheus_url=self.stack.prometheus_url,
        )
        cpu = seconds_used(before, snapshot(pids, alone=[DRIVER]))
        children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu["k6"] = (children_after.ru_utime + children_after.ru_stime) - (
            children_before.ru_utime + children_before.ru_stime
        )
        ids = [str(r["payment_id"]) for r in result.console if r.get("payment_id")]
        if not ids:
            # Not a step that did not hold: k6 itself did not run (a script or option error).
            tail = "\n".join(result.output_tail[-15:])
            raise RuntimeError(
                f"k6 created no payment at {rate:g}/s (exit {result.exit_code}):\n{tail}"
            )
        latencies, succeeded = await self._saga_latencies(ids)
        return Step(
            rate=rate,
            duration_s=float(step_s),
            created=len(ids),
            dropped=int(result.metric("dropped_iterations", "count") or 0),
            finished=len(latencies),
            succeeded=succeeded,
            saga_latencies_s=latencies,
            api_p50_ms=result.metric("http_req_duration{api:create}", "med") or 0.0,
            api_p95_ms=result.metric("http_req_duration{api:create}", "p(95)") or 0.0,
            api_p99_ms=result.metric("http_req_duration{api:create}", "p(99)") or 0.0,
            cpu_s=cpu,
            payment_ids=ids,
        )

    async def _saga_latencies(self, ids: list[str]) -> tuple[list[float], int]:
        """Start-to-close seconds of each closed saga, and how many succeeded."""
        config = self.stack.config
        assert config is not None
        ends = [e for e in (await saga_ends(await connect(config), ids)).values() if e]
        return [e.duration_s for e in ends], sum(1 for e in ends if e.state == "succeeded")

    async def _recent_bench_ids(self, limit: int = 20) -> list[str]:
        config = self.stack.config
        assert config is not None
        client = await connect(config, namespace=BENCH_NAMESPACE)
        ids = []
        async for execution in client.list_workflows("WorkflowType = 'PaymentWorkflow'"):
            ids.append(execution.id)
            if len(ids) >= limit:
                break
        return ids

    async def _cost_of_ids(self, ids: list[str], namespace: str = "default") -> tuple[Cost, int]:
        """Mean cost of a payment (its history plus its fraud child's)."""
        config = self.stack.config
        assert config is not None
        client = await connect(config, namespace=namespace)
        costs = []
        for payment_id in ids:
            parent = await client.get_workflow_handle(payment_id).fetch_history()
            child = await client.get_workflow_handle(f"{payment_id}-fraud").fetch_history()
            costs.append(cost_of(parent) + cost_of(child, child=True))
        if not costs:
            return Cost(0, 0, 0), 0
        return (
            Cost(
                round(statistics.mean(c.events for c in costs)),
                round(statistics.mean(c.actions for c in costs)),
                round(statistics.mean(c.workflow_tasks for c in costs)),
            ),
            len(costs),
        )
