"""Pure pieces of `saga load` and `saga bench`: k6 output parsing, expectations, costs, reports."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHistory

from chaos.perf.bench import report
from chaos.perf.bench.ceiling import CeilingResult
from chaos.perf.bench.costs import Cost, cost_of
from chaos.perf.bench.cpu import cpu_seconds, snapshot, tree_cpu_seconds
from chaos.perf.bench.runner import Bench, BenchResult, Step
from chaos.perf.cli import k6_wait
from chaos.perf.k6 import K6Result, _console_records
from chaos.perf.load import expected_success_states
from chaos.perf.percentiles import percentile
from chaos.scenario.format import find_scenario, load_scenario
from runtime.processes import descendants


def test_console_lines_of_k6_become_records(tmp_path: Path) -> None:
    log = tmp_path / "console.log"
    log.write_text(
        'time="2026-11-25T22:35:59Z" level=info msg="{\\"payment_id\\":\\"p\\\\\\"1\\",'
        '\\"kind\\":\\"x\\"}"\n'
        'time="2026-11-25T22:36:00Z" level=info msg="not json"\n'
        "garbage\n"
    )
    assert _console_records(log) == [{"payment_id": 'p"1', "kind": "x"}]


def test_thresholds_are_read_from_the_summary() -> None:
    summary = {
        "metrics": {
            "http_req_failed": {"values": {"rate": 0.0}, "thresholds": {"rate<0.02": {"ok": True}}},
            "checks": {"values": {"rate": 0.5}, "thresholds": {"rate>0.95": {"ok": False}}},
        }
    }
    result = K6Result(99, summary)
    assert result.thresholds() == [
        ("checks", "rate>0.95", False),
        ("http_req_failed", "rate<0.02", True),
    ]
    assert not result.thresholds_ok
    assert result.metric("checks", "rate") == 0.5
    assert result.metric("checks", "p(95)") is None
    assert K6Result(0, {"metrics": {"x": {"thresholds": {"a": {"ok": True}}}}}).thresholds_ok


def test_expected_states_follow_the_scenario() -> None:
    assert expected_success_states(None) == ["succeeded"]
    assert expected_success_states(load_scenario(find_scenario("flaky-provider"))) == ["succeeded"]
    anything = expected_success_states(load_scenario(find_scenario("missing-callback")))
    assert set(anything) == {"succeeded", "failed", "cancelled"}


def event(kind: EventType.ValueType, attempt: int = 0) -> HistoryEvent:
    e = HistoryEvent(event_type=kind)
    if kind == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
        e.activity_task_started_event_attributes.attempt = attempt
    return e


def test_actions_count_starts_activities_retries_timers_and_signals() -> None:
    history = WorkflowHistory(
        "wf",
        [
            event(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED),
            event(EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED),
            event(EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED),
            event(EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED, attempt=3),  # two retries
            event(EventType.EVENT_TYPE_TIMER_STARTED),
            event(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED),
            event(EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED),
        ],
    )
    assert cost_of(history) == Cost(events=7, actions=6, workflow_tasks=2)
    assert cost_of(history, child=True).actions == 5  # the parent paid for the child's start


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile([], 99) == 0.0


def test_bench_report_replaces_only_its_block(tmp_path: Path) -> None:
    step = Step(4, 20.0, 80, 0, 80, 80, [0.5] * 80, 10, 20, 30, {"temporal": 3.0, "api": 1.0})
    result = BenchResult(
        CeilingResult(100, 10, 10.0, [1.0] * 100),
        {"temporal": 5.0},
        [step],
        Cost(57, 13, 9),
        20,
        Cost(57, 13, 9),
        5.0,
        "every offered rate held",
    )
    assert result.best is step and round(result.ratio, 2) == 0.4
    path = tmp_path / "BENCHMARKS.md"
    path.write_text(
        f"# Benchmarks\n\nnotes before\n\n{report.BEGIN}\nSTALE\n{report.END}\n\nafter\n"
    )
    report.write(result, path)
    text = path.read_text()
    assert "notes before" in text and "after" in text and "STALE" not in text
    assert "payments/s = 0.40" in text and "| 57 | 57 |" in text
    # 80 payments, 3 CPU-s of the dev server: 37.5 ms each, the API's 12.5 ms beside it.
    assert result.server_cpu_ms_per_payment == 37.5
    assert result.cpu_ms_per_payment == {"temporal": 37.5, "api": 12.5}


def test_each_backend_has_its_block_and_both_stand_side_by_side(tmp_path: Path) -> None:
    def run(backend: str, server: dict[str, float]) -> BenchResult:
        step = Step(4, 20.0, 80, 0, 80, 80, [0.5] * 80, 10, 20, 30, {**server, "k6": 9.0})
        ceiling = CeilingResult(100, 10, 10.0, [1.0] * 100)
        cost = Cost(57, 13, 9)
        return BenchResult(ceiling, {}, [step], cost, 20, cost, 5.0, "held", backend)

    path = tmp_path / "BENCHMARKS.md"
    report.write(run("dev", {"temporal": 4.0}), path)
    cluster = {"temporal-history": 2.0, "temporal-matching": 1.0, "postgres": 1.2, "api": 0.8}
    report.write(run("cluster", cluster), path)
    report.write(run("dev", {"temporal": 2.0}), path)  # a rerun replaces only its own block
    text = path.read_text()
    assert text.count(report.BEGIN) == 1 and text.count(report.markers("cluster")[0]) == 1
    assert text.index(report.SIDE_BEGIN) < text.index(report.BEGIN)
    assert "| | dev | cluster |" in text
    # Server CPU per payment: the dev server alone; the cluster's services and PostgreSQL.
    assert "| Temporal server CPU per payment | 25.0 ms | 52.5 ms |" in text
    assert "| all processes' CPU per payment | 25.0 ms | 62.5 ms |" in text  # k6 left out


def test_the_report_names_the_knee_and_the_p99_at_half_of_it(tmp_path: Path) -> None:
    def step(rate: float, p99_s: float) -> Step:
        latencies = [0.4] * 98 + [p99_s] * 2
        return Step(rate, 20.0, 100, 0, 100, int(rate * 20), latencies, 10, 20, 30, {})

    steps = [step(2, 0.5), step(4, 0.7), step(6, 0.9), step(8, 1.2), step(10, 2.0), step(12, 9)]
    cost = Cost(41, 11, 6)
    ceiling = CeilingResult(100, 10, 10.0, [1.0] * 100)
    result = BenchResult(ceiling, {}, steps, cost, 20, cost, 5.0, "p99")
    assert result.best.rate == 10 and result.half_knee.rate == 6
    path = tmp_path / "BENCHMARKS.md"
    # A block written before these figures existed still renders in the side-by-side table.
    old = '<!-- figures {"backend": "cluster", "date": "d", "commit": "c", "ceiling": 1, '
    old += '"throughput": 1, "best_rate": 1, "ratio": 1, "p99_s": 1, "server_cpu_ms": 1, '
    old += '"cpu_ms": 1, "events": 55} -->'
    cluster_begin, cluster_end = report.markers("cluster")
    path.write_text(f"# B\n\n{cluster_begin}\n{old}\n{cluster_end}\n")
    report.write(result, path)
    text = path.read_text()
    assert "Knee: **10/s**" in text and "half the knee (6/s): **0.90 s**" in text
    assert "**41** history events, **6** workflow tasks" in text
    assert "| saga p99 at half the knee | 0.9 s (6/s) | - s (-/s) |" in text
    assert "| workflow tasks per payment | 6 | - |" in text
    assert "k6 polled GET /payments/{id}/state, then read each in full" in text
    waited = BenchResult(ceiling, {}, steps, cost, 20, cost, 5.0, "p99", k6_wait_s=10)
    assert "k6 waited for each with GET /payments/{id}?wait=10" in report.render(waited)


@pytest.mark.parametrize("text", ["-1", "21", "1.5", "soon", ""])
def test_a_k6_wait_that_is_not_whole_seconds_from_0_to_20_is_refused(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=r"expected whole seconds|from 0 to 20"):
        k6_wait(text)
    assert (k6_wait("0"), k6_wait("20")) == (0, 20)


def test_the_report_gives_cpu_per_payment_at_the_knee_at_half_of_it_and_per_no_op_saga(
    tmp_path: Path,
) -> None:
    """The knee's figure is taken with the machine saturated; half the knee's is not; the
    ceiling's no-op saga is the same run's baseline (its 20 warm-up sagas used CPU too)."""

    def step(rate: float, cpu_s: float, p99_s: float) -> Step:
        n = int(rate * 20)
        cpu = {"temporal": cpu_s * 0.75, "api": cpu_s * 0.25, "k6": 5.0}
        return Step(rate, 20.0, n, 0, n, n, [0.4] * 98 + [p99_s] * 2, 10, 20, 30, cpu)

    steps = [step(4, 8.8, 0.5), step(8, 16.0, 1.0), step(12, 36.0, 9.0)]
    ceiling = CeilingResult(100, 10, 10.0, [1.0] * 100, warmup=20)
    cost = Cost(40, 11, 6)
    result = BenchResult(ceiling, {"temporal": 9.0, "bench": 3.0}, steps, cost, 20, cost, 5, "p99")
    assert result.best.rate == 8 and result.half_knee.rate == 4
    assert result.ceiling_cpu_ms_per_saga == 100.0  # 12 CPU-s over 120 sagas
    path = tmp_path / "BENCHMARKS.md"
    report.write(result, path)
    text = path.read_text()
    # 16 CPU-s over 160 payments at the knee, 8.8 over 80 at half of it; k6 left out.
    assert "**100 ms** at the knee" in text and "**110 ms** at half the knee" in text
    assert "saga cost **100 ms** in the same run" in text and "costs **1.00** no-op" in text
    assert "| all processes' CPU per payment at half the knee | 110.0 ms |" in text
    assert "| no-op ceiling's CPU per saga | 100.0 ms |" in text
    assert "CPU / payment" in text and "150 ms" in text  # the 12/s step: 36 CPU-s, 240 paid
    # The held steps: 8.8 CPU-s for 80 payments, 16 for 160: 90 ms each plus 1.6 s per step.
    slope, background = result.marginal_cpu or (0.0, 0.0)
    assert round(slope, 6) == 90.0 and round(background, 6) == 1.6
    assert "one more payment costs **90 ms**" in text and "pays 1.6 CPU-seconds" in text
    assert "| CPU per additional payment (fitted across the steps) | 90.0 ms |" in text


BURN_THEN_SLEEP = (
    "import time\nend = time.process_time() + 0.3\n"
    "while time.process_time() < end: pass\ntime.sleep(30)\n"
)


def test_cpu_snapshots_count_a_servers_live_children_but_not_the_harness_stack() -> None:
    """PostgreSQL's backends are live children in sessions of their own: counted with it. The
    harness's descendants are the whole stack and k6: not counted in its own row."""
    spawn_child = (
        "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c',"
        f" {BURN_THEN_SLEEP!r}], start_new_session=True); time.sleep(30)"
    )
    server = subprocess.Popen([sys.executable, "-c", spawn_child])
    try:
        time.sleep(2.0)  # the child has burnt its 0.3 s and sleeps, alive
        counted = snapshot({"server": server.pid, "harness": os.getpid()}, alone=["harness"])
        assert counted["server"] >= 0.25
        assert counted["server"] > cpu_seconds(server.pid) + 0.25  # the child, not the parent
        assert counted["harness"] < tree_cpu_seconds(os.getpid())
    finally:
        for pid in descendants(server.pid):
            os.kill(pid, signal.SIGKILL)
        server.kill()
        server.wait()


def bench_holding_up_to(capacity: float, tmp_path: Path) -> Bench:
    """A bench whose k6 steps are faked: the system achieves up to ``capacity`` payments/s with
    a saga p99 of 0.5 s, and 8 s above it."""
    bench = Bench(tmp_path, progress=lambda line: None)

    async def step(rate: float, step_s: int) -> Step:
        achieved = min(rate, capacity)
        latency = 0.5 if rate <= capacity else 8.0
        n = int(achieved * step_s)
        return Step(rate, float(step_s), n, 0, n, n, [latency] * n, 10, 20, 30, {})

    bench._step = step  # type: ignore[method-assign]
    return bench


async def test_the_climb_bisects_between_the_last_rate_that_held_and_the_first_that_did_not(
    tmp_path: Path,
) -> None:
    """A system that holds up to 9.3 payments/s: fixed steps of 4/s stop at 12, and three more
    steps (10, 9, 9.5) narrow the knee to 9/s held, 9.5/s not."""
    bench = bench_holding_up_to(9.3, tmp_path)
    steps, reason = await bench.climb([4, 8, 12], 20, 5.0, bisect=3)
    assert [s.rate for s in steps] == [4, 8, 12, 10, 9, 9.5]
    assert reason == "saga p99 passed 5s at 12/s; bisected to 9/s held, 9.5/s did not"
    none, _ = await bench.climb([4, 8, 12], 20, 5.0, bisect=0)
    assert [s.rate for s in none] == [4, 8, 12]


async def test_the_climb_goes_past_the_listed_rates_until_one_does_not_hold(tmp_path: Path) -> None:
    """A system that holds up to 17.3/s, listed rates up to 16/s: the climb goes on by the last
    increment (20/s fails) and bisects; without ``beyond`` it stops at the list's end, and
    neither a single rate nor a list whose last increment is not positive is extended."""
    bench = bench_holding_up_to(17.3, tmp_path)
    steps, reason = await bench.climb([4, 8, 12, 16], 20, 5.0, bisect=3, beyond=30.0)
    assert [s.rate for s in steps] == [4, 8, 12, 16, 20, 18, 17, 17.5]
    assert reason == "saga p99 passed 5s at 20/s; bisected to 17/s held, 17.5/s did not"
    listed, reason = await bench.climb([4, 8, 12, 16], 20, 5.0, bisect=3)
    assert ([s.rate for s in listed], reason) == ([4, 8, 12, 16], "every offered rate held")
    capped, _ = await bench.climb([4, 8], 20, 5.0, bisect=0, beyond=15.0)
    assert [s.rate for s in capped] == [4, 8, 12]
    flat, _ = await bench.climb([8, 8], 20, 5.0, bisect=0, beyond=30.0)
    assert [s.rate for s in flat] == [8, 8]
    single, _ = await bench.climb([8], 20, 5.0, bisect=0, beyond=30.0)
    assert [s.rate for s in single] == [8]


def test_repeated_runs_report_the_median_run_and_every_figures_spread(tmp_path: Path) -> None:
    """`saga bench --repeat N`: the block is the median run's; a table gives each figure's
    median, range and spread; the ceiling measured after the climb is reported beside the one
    before it."""

    def run(succeeded: int, ceiling: float, after: float) -> BenchResult:
        step = Step(8, 20.0, 160, 0, 160, succeeded, [0.5] * 100, 10, 20, 30, {"t": 4.0})
        cost = Cost(40, 6, 11)
        before = CeilingResult(100, 10, 100 / ceiling, [1.0] * 100)  # 100 sagas in 100/c s
        later = CeilingResult(100, 10, 100 / after, [1.0] * 100)
        return BenchResult(before, {}, [step], cost, 20, cost, 5.0, "held", ceiling_after=later)

    runs = [run(140, 10.0, 9.0), run(160, 10.0, 10.0), run(120, 12.0, 11.0)]
    assert [round(r.ratio, 2) for r in runs] == [0.7, 0.8, 0.5]
    assert report.median_run(runs) is runs[0]
    table = report.repeat_table(runs)
    ratio = next(line.split() for line in table.splitlines() if line.startswith("ratio "))
    assert ratio == ["ratio", "0.7", "0.5", "0.8", "43%"]  # (0.8 - 0.5) / 0.7
    ceiling_after = next(
        line.split() for line in table.splitlines() if line.startswith("ceiling_after")
    )
    assert ceiling_after[1:4] == ["10", "9", "11"]
    path = tmp_path / "BENCHMARKS.md"
    report.write(report.median_run(runs), path, runs)
    text = path.read_text()
    assert "Over 3 runs (`saga bench --repeat 3`)" in text
    assert '"repeat": 3' in text
    assert "after the climb: 9.0 payments/s (-10% on the one before it" in text
