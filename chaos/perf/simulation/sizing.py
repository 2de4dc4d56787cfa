"""The planned cluster, service by service: what ``saga simulate plan`` found, split the way the
cluster backend spends it, with the ledger's database sized by the ledger model.

The plan simulates one pool of Temporal server cores. The cluster backend runs each Temporal
service in a process of its own, and ``saga bench --backend cluster`` measured the CPU each
spends per payment (BENCHMARKS.md, its block's "CPU milliseconds per succeeded payment"); the
plan's server cores are split in those proportions. The ledger's PostgreSQL is sized from its
write rate and the database CPU per debit the ledger model fitted to ``make bench-ledger``
(:mod:`chaos.perf.simulation.ledger`); one account's payments serialize on its lock, which caps
what a single user can pay per second whatever the cluster.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

from chaos.perf.simulation.ledger import ROUND_TRIPS, LedgerCalibration
from chaos.perf.simulation.plan import Plan
from runtime.tables import render_table

BENCHMARKS = Path(__file__).resolve().parents[3] / "BENCHMARKS.md"
#: The Temporal server's processes on the cluster backend, as the bench names them.
SERVICES = {
    "temporal-history": "history",
    "temporal-matching": "matching",
    "temporal-frontend": "frontend",
    "temporal-worker": "worker (Temporal's system workflows)",
    "postgres": "Temporal's PostgreSQL",
}
CLUSTER_BLOCK = re.compile(
    r"<!-- saga bench cluster: generated.*?<!-- saga bench cluster: end -->", re.DOTALL
)
PER_PAYMENT = re.compile(r"CPU milliseconds per succeeded payment.*?```\n(.*?)```", re.DOTALL)
#: A host runs at most this busy: headroom for bursts, failover, compaction.
BUSY = 0.7


def service_costs(text: str | None = None) -> dict[str, float]:
    """CPU ms per payment of each Temporal service, from the cluster bench's block."""
    block = CLUSTER_BLOCK.search(BENCHMARKS.read_text() if text is None else text)
    table = PER_PAYMENT.search(block.group(0)) if block else None
    if table is None:
        raise ValueError(
            "BENCHMARKS.md has no `saga bench --backend cluster` block with CPU per payment by"
            " process: run `saga bench --backend cluster`"
        )
    costs = {}
    for line in table.group(1).splitlines():
        name, _, value = line.strip().rpartition(" ")
        if name.strip() in SERVICES:
            costs[name.strip()] = float(value)
    return costs


@dataclass(frozen=True)
class Sized:
    """One part of the cluster."""

    part: str
    cores: float
    hosts: int
    basis: str


def size_cluster(
    plan: Plan,
    ledger: LedgerCalibration,
    host_cores: int,
    costs: dict[str, float],
    refunds_per_payment: float,
) -> list[Sized]:
    """The cluster for the plan's answer (the caller sizes only a plan that found one)."""
    best = plan.best
    assert best is not None, "no configuration met the target: nothing to size"
    rate = plan.target_rate
    server_ms = sum(costs.values())
    parts = []
    for process, part in SERVICES.items():
        if process not in costs:
            continue
        cores = best.server_cores * costs[process] / server_ms
        basis = f"{costs[process]:.1f} of {server_ms:.1f} server ms per payment (bench, cluster)"
        parts.append(Sized(part, cores, _hosts(cores, host_cores), basis))
    writes = rate * (1 + refunds_per_payment)
    db_cores = writes * ledger.db_cpu_s / BUSY
    parts.append(
        Sized(
            "ledger's PostgreSQL",
            db_cores,
            _hosts(db_cores, host_cores),
            f"{writes:,.0f} write transactions/s (a debit per payment, {refunds_per_payment:.2f}"
            f" refunds per payment) x {ledger.db_cpu_s * 1000:.2f} ms of database CPU each"
            " (ledger model, per-account locks)",
        )
    )
    for role in ("payments", "accounts", "fraud", "notifications"):
        parts.append(
            Sized(
                f"{role} workers",
                float(best.workers),
                _hosts(best.workers, host_cores),
                "processes, one core each (simulated, the same count per role)",
            )
        )
    return parts


def _hosts(cores: float, host_cores: int) -> int:
    return max(1, math.ceil(cores / (host_cores * BUSY)))


def hot_account_rate(ledger: LedgerCalibration) -> float:
    """Debits per second one account can take (and the whole ledger under its single lock): the
    lock is held from the prologue to the commit (all but the first round trip's work)."""
    held_s = (ledger.client_cpu_s + ledger.db_cpu_s + ledger.latency_s) * (
        (ROUND_TRIPS - 1) / ROUND_TRIPS
    )
    return 1 / held_s


def sizing_text(parts: list[Sized], ledger: LedgerCalibration, host_cores: int) -> str:
    """The sized cluster as a table, and what it rests on."""
    rows = [["part", "cores", f"hosts of {host_cores} cores", "from"]]
    rows += [[p.part, f"{p.cores:,.0f}", str(p.hosts), p.basis] for p in parts]
    return "\n".join(
        [
            f"Sized cluster (hosts of {host_cores} cores, at most {BUSY:.0%} busy):",
            render_table(rows),
            f"One account's payments serialize on its lock: at most {hot_account_rate(ledger):,.0f}"
            " debits/s for a single user, whatever the cluster (the hot account). The ledger's"
            " single lock (locking=global) would cap every user together at the same figure.",
            f"Ledger model: {ledger.source}.",
        ]
    )
