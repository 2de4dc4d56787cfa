"""``saga simulate plan``: the smallest cluster that meets a target rate and saga p99.

The search, with its reasoning kept: for server cores doubling from a floor, find the smallest
worker count (per role) that meets the target by doubling then bisecting; stop at the first
server size where adding cores no longer lowers the total. The floor of each comes from the
calibrated CPU cost per payment (a utilization bound: no fewer cores than the work needs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from chaos.perf.simulation.calibration import Calibration
from chaos.perf.simulation.model import SimResult, Topology, simulate
from chaos.scenario.format import Scenario


@dataclass
class Trial:
    """One simulated configuration."""

    workers: int
    server_cores: int
    result: SimResult
    meets: bool


@dataclass
class Plan:
    """The answer and how it was found."""

    target_rate: float
    target_p99_s: float
    trials: list[Trial]
    best: Trial | None
    floors: dict[str, float]


def cpu_floors(cal: Calibration, rate: float, events: float) -> dict[str, float]:
    """Cores each part needs at ``rate`` if it were busy all the time (a lower bound)."""
    payment_tasks, fraud_tasks = 9.0, 3.0
    return {
        "server cores": rate * events * cal.server_event_s,
        "payments workers": rate * payment_tasks * cal.payments_task_s,
        "accounts workers": rate * 4 * cal.accounts_activity_s,
        "fraud workers": rate * fraud_tasks * cal.fraud_task_s,
    }


def make_plan(
    scenario: Scenario,
    cal: Calibration,
    target_rate: float,
    target_p99_s: float,
    *,
    duration_s: float = 60.0,
    max_entity_rate: float = 40.0,
) -> Plan:
    """Search the configuration space with short simulations."""
    floors = cpu_floors(cal, target_rate, cal.events_per_payment)
    trials: list[Trial] = []

    def trial(workers: int, server: int) -> Trial:
        result = simulate(
            scenario,
            cal,
            Topology.scaled(workers, server),
            target_rate,
            duration_s,
            max_entity_rate=max_entity_rate,
            drain_s=scenario.settings.callback_timeout_s + 30,
        )
        meets = result.latency(99) <= target_p99_s and result.throughput >= 0.97 * target_rate
        found = Trial(workers, server, result, meets)
        trials.append(found)
        return found

    def smallest_workers(server: int) -> Trial | None:
        low = max(1, math.ceil(max(floors["payments workers"], floors["fraud workers"])))
        high = low
        found = trial(high, server)
        while not found.meets:
            if high >= 64 * low:
                return None
            low, high = high, high * 2
            found = trial(high, server)
        while high - low > max(1, high // 16):
            middle = (low + high) // 2
            attempt = trial(middle, server)
            if attempt.meets:
                high, found = middle, attempt
            else:
                low = middle
        return found

    best: Trial | None = None
    server = max(1, math.ceil(floors["server cores"] / 0.7))  # servers run well under 70%
    for _ in range(4):
        found = smallest_workers(server)
        if found is not None and (
            best is None
            or found.workers * 4 + found.server_cores < best.workers * 4 + best.server_cores
        ):
            best = found
        elif found is not None:
            break
        server *= 2
    return Plan(target_rate, target_p99_s, trials, best, floors)
