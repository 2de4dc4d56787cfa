"""The ledger's locking in the twin: debits as round trips to PostgreSQL under locks, fitted to
``make bench-ledger`` and checked against every point it measured.

A debit is :data:`ROUND_TRIPS` round trips (``orchestrator.ledger``: the opening that takes the
locks, then the read, the update, the insert and the commit). Each costs the writer's process
CPU (its GIL: one thread of a process at a time) and a core, a little wire latency, then
PostgreSQL's CPU on a core. The opening takes the lock the locking names, and the commit
releases it: the ledger-wide lock (``locking="global"``), or the account's (per-account locking,
the default; a hot account still serializes). The writers share the machine's cores with
PostgreSQL, as on the bench.

Three service times are unknown: the writer's CPU, PostgreSQL's CPU and the latency per debit.
:func:`fit` takes their sum from one writer alone and their split from every point the bench
measured (a small grid, nearest in mean error); :func:`validate` runs every point.
"""

from __future__ import annotations

import random
import re
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import simpy

ROUND_TRIPS = 5
"""Round trips of one debit on PostgreSQL (``Ledger.debit``: the opening that takes the locks and
reads the clock, one read of everything the checks need, the update, the insert, the commit)."""
BENCHMARKS = Path(__file__).resolve().parents[3] / "BENCHMARKS.md"
PATH = Path(__file__).with_name("calibration-ledger.json")
#: The bench's table row: backend, accounts, writers, processes, single lock/s, per-account/s.
ROW = re.compile(
    r"^\| postgres \| (\d+) \| (\d+) \| (\d+) \| ([\d,]+) \| ([\d,]+) \|", re.MULTILINE
)
TOLERANCE = 0.20


class LedgerCalibration(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Seconds per debit, and the machine the bench ran on."""

    client_cpu_s: float
    """The writer's CPU (Python, psycopg), on its process's GIL and a core."""
    db_cpu_s: float
    """PostgreSQL's CPU, on a core."""
    latency_s: float
    """Wire and wake-up latency, holding nothing."""
    cores: int = 2
    source: str = ""


@dataclass(frozen=True)
class Point:
    """One configuration the bench measured, with both lockings' debits per second."""

    accounts: int
    writers: int
    processes: int
    single_lock: float
    per_account: float

    def measured(self, locking: str) -> float:
        """Debits per second measured under ``locking`` ("global" or "account")."""
        return self.single_lock if locking == "global" else self.per_account


def bench_points(text: str | None = None) -> list[Point]:
    """The PostgreSQL points of the bench's block in BENCHMARKS.md."""
    found = ROW.findall(BENCHMARKS.read_text() if text is None else text)
    return [
        Point(int(a), int(w), int(p), float(g.replace(",", "")), float(s.replace(",", "")))
        for a, w, p, g, s in found
    ]


def debits_per_s(
    cal: LedgerCalibration,
    accounts: int,
    writers: int,
    processes: int,
    locking: str,
    seconds: float = 3.0,
    seed: int = 1,
) -> float:
    """Debits per second the model commits in ``seconds`` of simulated time."""
    env = simpy.Environment()
    rng = random.Random(seed)
    cores = simpy.Resource(env, cal.cores)
    gils = [simpy.Resource(env, 1) for _ in range(processes)]
    ledger_lock = simpy.Resource(env, 1)
    account_locks = [simpy.Resource(env, 1) for _ in range(accounts)]
    done = [0]
    per_trip = (cal.client_cpu_s / ROUND_TRIPS, cal.db_cpu_s / ROUND_TRIPS)

    def cpu(seconds_: float, gil: simpy.Resource | None) -> Generator[simpy.Event, Any, None]:
        held = gil.request() if gil is not None else None
        if held is not None:
            yield held
        with cores.request() as core:
            yield core
            yield env.timeout(rng.expovariate(1 / seconds_))
        if gil is not None and held is not None:
            gil.release(held)

    def writer(index: int) -> Generator[simpy.Event, Any, None]:
        gil = gils[index % processes]
        while True:
            lock = ledger_lock if locking == "global" else account_locks[rng.randrange(accounts)]
            held = None
            for trip in range(ROUND_TRIPS):
                yield from cpu(per_trip[0], gil)
                yield env.timeout(cal.latency_s / ROUND_TRIPS)
                if trip == 0:  # the prologue takes the lock, server side
                    held = lock.request()
                    yield held
                yield from cpu(per_trip[1], None)
            assert held is not None
            lock.release(held)  # at commit
            if env.now <= seconds:
                done[0] += 1

    for index in range(writers):
        env.process(writer(index))
    env.run(until=seconds)
    return done[0] / seconds


#: The grid :func:`fit` searches: the share of one writer's time per debit that is CPU (the rest
#: is latency), and the share of that CPU that is the writer's (the rest is PostgreSQL's).
CPU_SHARES = (0.8, 0.85, 0.9, 0.95, 1.0)
CLIENT_SHARES = (0.3, 0.4, 0.5, 0.6)


def fit(points: list[Point], cores: int = 2) -> LedgerCalibration:
    """Service times fitted to every point: one writer alone fixes their sum; how that splits
    into the writer's CPU, PostgreSQL's and latency is the split on a small grid whose model
    is nearest the bench over all points and both lockings (mean relative error)."""
    serial_s = 1 / _point(points, 1000, 1, 1).per_account
    best: tuple[float, LedgerCalibration] | None = None
    for cpu_share in CPU_SHARES:
        for client_share in CLIENT_SHARES:
            cpu_s = serial_s * cpu_share
            cal = LedgerCalibration(
                client_cpu_s=cpu_s * client_share,
                db_cpu_s=cpu_s * (1 - client_share),
                latency_s=serial_s - cpu_s,
                cores=cores,
            )
            error = sum(abs(c.error) for c in validate(cal, points))
            if best is None or error < best[0]:
                best = (error, cal)
    assert best is not None
    return msgspec.structs.replace(
        best[1],
        source=f"fitted to make bench-ledger's PostgreSQL points ({len(points)} configurations,"
        " both lockings): one writer alone for the total, every point for the split",
    )


def _point(points: list[Point], accounts: int, writers: int, processes: int) -> Point:
    for point in points:
        if (point.accounts, point.writers, point.processes) == (accounts, writers, processes):
            return point
    raise ValueError(
        f"BENCHMARKS.md has no bench-ledger point for {accounts} accounts, {writers} writers,"
        f" {processes} process(es): run `make bench-ledger`"
    )


@dataclass(frozen=True)
class Check:
    """The model against one measured figure."""

    point: Point
    locking: str
    model: float

    @property
    def error(self) -> float:
        """Relative error of the model against the bench."""
        return self.model / self.point.measured(self.locking) - 1


def validate(cal: LedgerCalibration, points: list[Point]) -> list[Check]:
    """Every measured figure against the model's."""
    return [
        Check(p, locking, debits_per_s(cal, p.accounts, p.writers, p.processes, locking))
        for p in points
        for locking in ("global", "account")
    ]


def load(path: Path = PATH) -> LedgerCalibration:
    """The stored ledger calibration."""
    return msgspec.json.decode(path.read_bytes(), type=LedgerCalibration)


def save(cal: LedgerCalibration, path: Path = PATH) -> Path:
    """Store a ledger calibration."""
    path.write_bytes(msgspec.json.format(msgspec.json.encode(cal)) + b"\n")
    return path
