"""The ledger's guarantees under a race on PostgreSQL, with its single writer lock and with its
per-account locks: threads and processes debit, retry and refund over a hot account, a few and
many accounts, refunds racing their debits; then the journal is read back.

Each guarantee is checked from the journal alone: balances never negative, every balance the
sum of its account's entries in order, one debit and one refund per payment at most, no refund
larger than its debit, no debit of a tombstoned payment, the velocity limit held per account,
and money conserved.
"""

from __future__ import annotations

import multiprocessing as mp
import random
from collections import Counter, defaultdict
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import pytest

from orchestrator.errors import (
    InsufficientFunds,
    PaymentCompensated,
    VelocityLimitExceeded,
)
from orchestrator.ledger import Ledger, Locking
from tests.postgres import PostgresServer

HOT = "hot"
#: The hot account's limit: far fewer than the debits thrown at it.
HOT_VELOCITY = (60.0, 25)
OPENING = {HOT: 2_000, **{f"few{i}": 3_000 for i in range(3)}}
OPENING |= {f"many{i}": 500 for i in range(200)}


def race(url: str, locking: Locking, worker: int, threads: int, operations: int) -> None:
    """``threads`` threads of one process, each ``operations`` random moves (a top-level
    function: spawned processes run it too)."""
    ledger = Ledger(url, locking=locking, pool_size=threads, lock_wait_s=30)
    users = list(OPENING)

    def one_thread(index: int) -> None:
        rng = random.Random(f"{worker}-{index}")
        for _ in range(operations):
            # Payment ids shared by every thread and process: retries and refunds race.
            payment = f"p{rng.randrange(operations * 4)}"
            roll = rng.random()
            try:
                if roll < 0.55:
                    user = HOT if rng.random() < 0.4 else rng.choice(users)
                    velocity = HOT_VELOCITY if user == HOT else (60.0, 10**6)
                    ledger.debit(payment, user, rng.randrange(1, 120), velocity=velocity)
                else:
                    ledger.refund(payment)
            except (InsufficientFunds, PaymentCompensated, VelocityLimitExceeded):
                pass

    try:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(one_thread, range(threads)))
    finally:
        ledger.close()


@pytest.mark.parametrize("locking", ["global", "account"])
def test_every_guarantee_holds_under_a_race(postgres: PostgresServer, locking: Locking) -> None:
    url = postgres.database()
    ledger = Ledger(url, locking=locking)
    for user, balance in OPENING.items():
        ledger.open_account(user, balance)
    with ProcessPoolExecutor(max_workers=3, mp_context=mp.get_context("spawn")) as pool:
        work = [pool.submit(race, url, locking, w, 4, 150) for w in range(3)]
        race(url, locking, 99, 8, 150)  # and 8 threads here, at the same time
        for done in work:
            done.result()

    snapshot = ledger.snapshot()
    entries = snapshot.entries
    kinds = Counter(e.kind for e in entries)
    assert kinds["debit"] > 150 and kinds["refund"] > 50, kinds  # the race did happen

    running: dict[str, int] = {}
    for entry in entries:  # the journal's order is each account's commit order
        delta = {"opening": entry.amount, "debit": -entry.amount, "refund": entry.amount}
        running[entry.user_id] = running.get(entry.user_id, 0) + delta[entry.kind]
        assert entry.balance_after == running[entry.user_id] >= 0, entry
    assert running == snapshot.balances

    per_payment: dict[str, Counter[str]] = defaultdict(Counter)
    amounts: dict[tuple[str, str], int] = {}
    for entry in entries:
        if entry.kind in ("debit", "refund"):
            per_payment[entry.payment_id][entry.kind] += 1
            amounts[entry.payment_id, entry.kind] = entry.amount
    for payment, count in per_payment.items():
        assert count["debit"] <= 1 and count["refund"] <= count["debit"], (payment, count)
        if count["refund"]:
            assert amounts[payment, "refund"] == amounts[payment, "debit"], payment
    tombstoned = set(snapshot.tombstones)
    assert not {p for p, c in per_payment.items() if c["debit"]} & tombstoned

    hot_debits = sum(e.kind == "debit" and e.user_id == HOT for e in entries)
    assert hot_debits <= HOT_VELOCITY[1]
    assert sum(snapshot.balances.values()) == sum(OPENING.values()) - sum(
        amounts[p, "debit"] - amounts.get((p, "refund"), 0)
        for p, c in per_payment.items()
        if c["debit"]
    )
    ledger.close()
