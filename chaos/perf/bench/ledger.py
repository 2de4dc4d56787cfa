"""``make bench-ledger``: debits per second with the ledger's per-account locks against its single
writer lock, measured in the same run.

Each configuration runs both lockings back to back on a fresh database: ``writers`` threads (in
one process, or spread over several) debit random accounts among ``accounts`` for a fixed time,
with the saga's velocity check (set too high to refuse: its query is part of every debit). SQLite
has one writer by design and is measured once per configuration. The figures are printed and
written into ``BENCHMARKS.md`` between this benchmark's markers.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import random
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from chaos.perf.bench.report import replace_block
from orchestrator.ledger import Ledger, Locking
from runtime.postgres import throwaway_server
from runtime.tables import render_table

WRITERS = (1, 4, 16)
ACCOUNTS = (10, 1000)
PROCESSES = 4
#: Never refuses, but the saga's velocity query runs in every debit.
VELOCITY = (60.0, 10**9)
BENCHMARKS = Path(__file__).resolve().parents[3] / "BENCHMARKS.md"
MARKER = "make bench-ledger"


@dataclass(frozen=True)
class Config:
    """One measured configuration."""

    backend: str
    accounts: int
    writers: int
    processes: int


def debit_loop(url: str, locking: Locking, accounts: int, threads: int, start_at: float,
               seconds: float, tag: str) -> int:  # fmt: skip
    """Debits ``threads`` threads of this process committed between ``start_at`` and
    ``seconds`` later (a top-level function: it runs in spawned processes too)."""
    ledger = Ledger(url, locking=locking, pool_size=threads)
    users = [f"u{i}" for i in range(accounts)]
    counts = [0] * threads

    def writer(index: int) -> None:
        rng = random.Random(f"{tag}-{index}")
        time.sleep(max(0.0, start_at - time.time()))
        deadline = start_at + seconds
        n = 0
        while time.time() < deadline:
            ledger.debit(f"{tag}-{index}-{n}", rng.choice(users), 1, velocity=VELOCITY)
            n += 1
        counts[index] = n

    try:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(writer, range(threads)))
    finally:
        ledger.close()
    return sum(counts)


def measure(url: str, locking: Locking, config: Config, seconds: float) -> float:
    """Debits per second of one configuration on the (fresh) ledger at ``url``."""
    ledger = Ledger(url, locking=locking)
    for i in range(config.accounts):
        ledger.open_account(f"u{i}", 10**12)
    ledger.close()
    tag = f"{locking}-{config.writers}-{config.processes}"
    threads = config.writers // config.processes
    if config.processes == 1:
        start_at = time.time() + 0.2
        return debit_loop(url, locking, config.accounts, threads, start_at, seconds, tag) / seconds
    start_at = time.time() + 3.0  # spawned interpreters import the ledger first
    context = mp.get_context("spawn")
    with context.Pool(config.processes) as pool:
        args = [
            (url, locking, config.accounts, threads, start_at, seconds, f"{tag}-p{p}")
            for p in range(config.processes)
        ]
        return sum(pool.starmap(debit_loop, args)) / seconds


def configs(backend: str) -> list[Config]:
    """Every accounts x writers x processes point (one process for a single writer)."""
    return [
        Config(backend, accounts, writers, processes)
        for accounts in ACCOUNTS
        for writers in WRITERS
        for processes in ((1,) if writers == 1 else (1, PROCESSES))
    ]


def run(seconds: float, backends: Sequence[str]) -> list[list[str]]:
    """Measure every configuration; the table rows (header first)."""
    rows = [
        ["backend", "accounts", "writers", "processes", "single lock /s", "per-account /s", "ratio"]
    ]
    if "postgres" in backends:
        with throwaway_server() as server:
            for config in configs("postgres"):
                single = measure(server.database(), "global", config, seconds)
                per_account = measure(server.database(), "account", config, seconds)
                rows.append(_row(config, single, per_account))
                print(render_table([rows[0], rows[-1]]).splitlines()[-1], flush=True)
    if "sqlite" in backends:
        with tempfile.TemporaryDirectory(prefix="saga-bench-ledger-") as scratch:
            for i, config in enumerate(configs("sqlite")):
                rate = measure(str(Path(scratch) / f"l{i}.db"), "global", config, seconds)
                rows.append(_row(config, rate, None))
                print(render_table([rows[0], rows[-1]]).splitlines()[-1], flush=True)
    return rows


def _row(config: Config, single: float, per_account: float | None) -> list[str]:
    return [
        config.backend,
        str(config.accounts),
        str(config.writers),
        str(config.processes),
        f"{single:,.0f}",
        "-" if per_account is None else f"{per_account:,.0f}",
        "-" if per_account is None else f"{per_account / single:.2f}",
    ]


def markdown(rows: list[list[str]], seconds: float) -> str:
    """The table as the block ``BENCHMARKS.md`` keeps."""
    day = time.strftime("%Y-%m-%d")
    lines = [
        f"Debits per second, {seconds:g} s per point, both lockings of a point back to back on"
        f" fresh databases ({mp.cpu_count()} cores; `make bench-ledger`, {day}):",
        "",
        "| " + " | ".join(rows[0]) + " |",
        "|" + "---|" * len(rows[0]),
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows[1:]]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark, print it, and write it into BENCHMARKS.md (``--no-write``: don't)."""
    parser = argparse.ArgumentParser(prog="python -m chaos.perf.bench.ledger")
    parser.add_argument("--seconds", type=float, default=2.0, help="per point (default 2)")
    parser.add_argument("--backend", choices=["postgres", "sqlite"], action="append")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    began = time.monotonic()
    rows = run(args.seconds, args.backend or ["postgres", "sqlite"])
    print(render_table(rows))
    print(f"bench-ledger: {time.monotonic() - began:.0f}s")
    if not args.no_write:
        replace_block(BENCHMARKS, MARKER, markdown(rows, args.seconds))
        print(f"wrote {BENCHMARKS}")


if __name__ == "__main__":
    main()
