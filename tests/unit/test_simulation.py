"""The SimPy model: outcomes as the saga decides them, faults, load response, scale, plan."""

from __future__ import annotations

import time
from pathlib import Path

import msgspec
import pytest

from chaos.errors import ScenarioError
from chaos.perf.simulation.calibration import Calibration, load_calibration, save_calibration
from chaos.perf.simulation.cli import parse_duration
from chaos.perf.simulation.measure import retry_costs
from chaos.perf.simulation.model import SimResult, Topology, merge, simulate
from chaos.perf.simulation.plan import make_plan
from chaos.scenario.format import find_scenario, load_scenario

CAL = Calibration()


def run(name: str, rate: float = 3.0, duration_s: float = 30.0, **kw: object) -> SimResult:
    return simulate(
        load_scenario(find_scenario(name)), CAL, Topology.machine(), rate, duration_s, **kw
    )  # type: ignore[arg-type]


def test_happy_path_succeeds_without_compensation() -> None:
    result = run("happy-path")
    assert result.shares() == {"succeeded": 1.0}
    assert not result.tally.compensations
    assert result.tally.finished == result.tally.started > 50


def test_missing_callback_times_out_voids_and_refunds_every_payment() -> None:
    result = run("missing-callback")
    n = result.tally.finished
    assert result.tally.reasons == {"callback_timeout": n}
    assert result.tally.compensations == {"void": n, "refund": n}
    timeout = load_scenario(find_scenario("missing-callback")).settings.callback_timeout_s
    assert result.latency(50) > timeout  # the timer, then the compensations


def test_declines_and_cancels_compensate_what_was_done() -> None:
    declined = run("provider-decline", rate=5, duration_s=40)
    failed = declined.tally.reasons["provider_declined"]
    assert 0 < failed < declined.tally.finished
    assert declined.tally.compensations["refund"] == failed
    assert declined.tally.compensations["void"] == 0  # declined outright: nothing authorized
    cancelled = run("cancel-mid-flight")
    assert cancelled.tally.outcomes["cancelled"] > 0
    assert cancelled.tally.compensations["refund"] == cancelled.tally.outcomes["cancelled"]


def test_retries_back_off_and_cost_attempts() -> None:
    happy, flaky = run("happy-path"), run("flaky-provider")
    assert flaky.tally.provider_attempts >= 3 * flaky.tally.started  # two forced failures each
    assert flaky.latency(50) > happy.latency(50) + 0.5  # 0.2 s + 0.4 s of backoff at least


def test_a_retry_waits_its_backoff_plus_the_measured_overhead() -> None:
    scenario = load_scenario(find_scenario("flaky-provider"))
    slow = Calibration(retry_floor_s=0.0, retry_overhead_s=0.2)

    def p50(cal: Calibration) -> float:
        return simulate(scenario, cal, Topology.machine(), 2.0, 30.0, seed=3).latency(50)

    # Two forced failures each, so at least two retries each pay the overhead.
    assert p50(slow) >= p50(Calibration(retry_floor_s=0.0)) + 2 * 0.2 - 0.05


def test_the_retry_gap_becomes_a_floor_or_an_overhead() -> None:
    cal = Calibration(hop_s=0.01, server_event_s=0.003, simulator_request_s=0.003)
    # The 1 s floor: a 0.2 s backoff measured 1.0 s.
    floor = retry_costs(cal, first_gap=1.0, backoff=0.2)
    assert (floor.retry_floor_s, floor.retry_overhead_s) == (pytest.approx(0.98), 0)
    # No floor: the gap is the backoff, the attempt the model counts, and an overhead.
    over = retry_costs(cal, first_gap=0.412, backoff=0.2)
    assert (over.retry_floor_s, over.retry_overhead_s) == (0, pytest.approx(0.2))
    assert retry_costs(cal, first_gap=0.0, backoff=0.2).retry_overhead_s == 0  # no retry seen


def test_a_killed_worker_costs_its_in_flight_tasks_a_timeout() -> None:
    crash = run("worker-crash", rate=4, duration_s=30)
    assert crash.latency(99) >= 15.0  # the provider call's start-to-close timeout
    assert crash.shares() == {"succeeded": 1.0}


def test_latency_and_saturation_grow_with_load() -> None:
    low, high = run("happy-path", rate=1), run("happy-path", rate=12)
    assert high.utilization["cpu"] > 2 * low.utilization["cpu"]
    assert high.latency(99) > low.latency(99)


def test_history_events_match_the_real_saga() -> None:
    model = run("happy-path").events_per_payment
    assert abs(model - CAL.events_per_payment) / CAL.events_per_payment < 0.15, model


def test_ten_thousand_per_second_is_scaled_down_and_fast() -> None:
    began = time.perf_counter()
    result = simulate(
        load_scenario(find_scenario("happy-path")),
        CAL,
        Topology.scaled(workers=500, server_cores=1700),
        10_000,
        60,
    )
    assert time.perf_counter() - began < 30
    assert result.scale > 1
    # Finished over first arrival to last finish: the tail of the last sagas costs a few %.
    assert abs(result.throughput - 10_000) / 10_000 < 0.1, result.throughput
    assert result.shares() == {"succeeded": 1.0}


def test_plan_finds_a_cluster_with_its_reasoning() -> None:
    plan = make_plan(load_scenario(find_scenario("happy-path")), CAL, 300, 5.0, duration_s=20)
    assert plan.best is not None and plan.best.meets
    assert len(plan.trials) >= 2
    assert plan.best.result.latency(99) <= 5.0


def test_merged_seeds_pool_latencies_and_outcomes() -> None:
    a, b = run("happy-path", seed=1), run("happy-path", seed=2)
    merged = merge([a, b])
    assert merged.tally.finished == a.tally.finished + b.tally.finished
    assert len(merged.tally.latencies) == merged.tally.finished
    assert min(a.throughput, b.throughput) <= merged.throughput <= max(a.throughput, b.throughput)


def test_calibration_round_trips_and_rejects_unknown_fields(tmp_path: Path) -> None:
    path = tmp_path / "cal.json"
    save_calibration(Calibration(server_event_s=0.005, source="test"), path)
    assert load_calibration(path).server_event_s == 0.005
    path.write_text('{"server_event_s": 1, "typo": 2}')
    with pytest.raises(msgspec.ValidationError, match="typo"):
        load_calibration(path)


def test_durations_are_read_or_refused_with_the_flag() -> None:
    assert (
        parse_duration("10m") == 600 and parse_duration("90") == 90 and parse_duration("1h") == 3600
    )
    with pytest.raises(ScenarioError, match="--duration"):
        parse_duration("ten minutes")
