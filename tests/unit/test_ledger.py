"""The ledger, on SQLite and on PostgreSQL: idempotent movements, tombstones, the atomic velocity
limit (threads and processes), outages."""

from __future__ import annotations

import multiprocessing as mp
import signal
import sqlite3
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from datetime import datetime, timedelta, tzinfo
from pathlib import Path

import psycopg
import pytest

from chaos.nemesis.ledger import hold_ledger_lock
from orchestrator.errors import (
    InsufficientFunds,
    InvalidAmount,
    PaymentCompensated,
    PaymentInvalid,
    PaymentSettled,
    VelocityLimitExceeded,
)
from orchestrator.ledger import DB_ERRORS, LOCK_WAIT_S, WRITER_LOCK, Ledger
from orchestrator.models import PaymentChecks
from orchestrator.workflows.payment import ACCOUNT_CALL
from tests.binaries import require_binary
from tests.postgres import PostgresServer, postgres_server


@pytest.fixture(params=["sqlite", "postgres"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Ledger:
    if request.param == "postgres":
        server: PostgresServer = request.getfixturevalue("postgres")
        ledger = Ledger(server.database())
    else:
        ledger = Ledger(tmp_path / "ledger.db")
    ledger.open_account("alice", 10_000)
    ledger.open_account("carol", 10_000, active=False)
    ledger.open_account("erin", 10_000, methods=("card",))
    return ledger


def test_debit_is_idempotent_per_payment(ledger: Ledger) -> None:
    first = ledger.debit("p1", "alice", 2_500)
    again = ledger.debit("p1", "alice", 2_500)
    assert (first.amount, first.balance_after, first.duplicate) == (2_500, 7_500, False)
    assert (again.amount, again.balance_after, again.duplicate) == (2_500, 7_500, True)
    assert ledger.balances()["alice"] == 7_500
    assert [e.kind for e in ledger.entries() if e.payment_id == "p1"] == ["debit"]


def test_insufficient_funds_moves_nothing(ledger: Ledger) -> None:
    with pytest.raises(InsufficientFunds):
        ledger.debit("p2", "alice", 10_001)
    assert ledger.balances()["alice"] == 10_000
    assert not [e for e in ledger.entries() if e.payment_id == "p2"]


def test_refund_once_and_only_of_a_debit(ledger: Ledger) -> None:
    assert ledger.refund("never-debited").amount == 0
    ledger.debit("p3", "alice", 1_000)
    first, again = ledger.refund("p3"), ledger.refund("p3")
    assert (first.amount, first.duplicate, again.duplicate) == (1_000, False, True)
    assert ledger.balances()["alice"] == 10_000
    assert [e.kind for e in ledger.entries() if e.payment_id == "p3"] == ["debit", "refund"]


def test_the_reconcilers_unsettled_debits_skip_settled_payments(ledger: Ledger) -> None:
    for payment_id in ("p1", "p2", "p3"):
        ledger.debit(payment_id, "alice", 100)
    ledger.refund("p2")
    listed = [(d.payment_id, d.refunded) for d in ledger.unsettled_debits()]
    assert listed == [("p1", False), ("p2", True), ("p3", False)]
    assert ledger.mark_settled(["p1", "p2"]) == 2
    assert ledger.mark_settled(["p2"]) == 0
    assert [d.payment_id for d in ledger.unsettled_debits()] == ["p3"]
    # The old pass's view is unchanged: every debit without its refund.
    assert [d.payment_id for d in ledger.unrefunded_debits()] == ["p1", "p3"]


def test_a_settled_payments_money_never_moves_again(ledger: Ledger) -> None:
    """Issue 34, item 3: a saga under a payment id reused after its execution was deleted finds
    the first saga's debit. It must neither take it as its own nor give it back."""
    ledger.debit("kept", "alice", 1_234)
    ledger.mark_settled(["kept"])
    with pytest.raises(PaymentSettled):
        ledger.debit("kept", "alice", 1_234)
    assert ledger.refund("kept").amount == 0
    assert [e.kind for e in ledger.entries() if e.payment_id == "kept"] == ["debit"]
    assert ledger.balances()["alice"] == 10_000 - 1_234


def test_opening_balances_are_journal_entries(ledger: Ledger) -> None:
    opening = sum(e.amount for e in ledger.entries() if e.kind == "opening")
    assert opening == sum(ledger.balances().values()) == 30_000
    assert ledger.open_account("alice", 5) is False


#: (user, amount, currency, method, reason): a payment validation refuses, and why (max 5,000).
INVALID = [
    ("nobody", 100, "USD", "card", "account_not_found"),
    ("carol", 100, "USD", "card", "account_inactive"),
    ("erin", 100, "USD", "wallet", "unsupported_method"),
    ("alice", 0, "USD", "card", "invalid_amount"),
    ("alice", 5_001, "USD", "card", "amount_over_limit"),
    ("alice", 100, "EUR", "card", "currency_mismatch"),
]


@pytest.mark.parametrize(
    ("user", "amount", "currency", "method", "reason"),
    [*INVALID, ("alice", 5_000, "USD", "card", None)],
)
def test_validation_reasons(
    ledger: Ledger, user: str, amount: int, currency: str, method: str, reason: str | None
) -> None:
    result = ledger.validate(user, amount, currency, method, max_amount=5_000)
    assert (result.valid, result.reason) == (reason is None, reason)


@pytest.mark.parametrize(
    ("user", "amount", "currency", "method", "reason"),
    INVALID,
)
def test_a_validated_debit_refuses_as_validation_does_and_moves_nothing(
    ledger: Ledger, user: str, amount: int, currency: str, method: str, reason: str
) -> None:
    checks = PaymentChecks(currency, method, max_amount=5_000)
    with pytest.raises(PaymentInvalid) as refused:
        ledger.debit("p9", user, amount, checks=checks)
    assert refused.value.reason == reason
    assert not [e for e in ledger.entries() if e.payment_id == "p9"]
    assert ledger.balances().get("alice") == 10_000


def test_a_validated_debit_reports_funds_before_the_velocity_limit(ledger: Ledger) -> None:
    # As the separate calls did: validation (balance included) first, then the debit's limit.
    checks = PaymentChecks("USD", "card", max_amount=1_000_000)
    ledger.debit("p1", "alice", 100, checks=checks)
    with pytest.raises(PaymentInvalid) as refused:
        ledger.debit("p2", "alice", 20_000, velocity=(60.0, 1), checks=checks)
    assert refused.value.reason == "insufficient_funds"
    with pytest.raises(VelocityLimitExceeded):
        ledger.debit("p3", "alice", 100, velocity=(60.0, 1), checks=checks)


def test_a_validated_debit_retried_after_its_commit_finds_its_debit(ledger: Ledger) -> None:
    # The retry of a debit that committed (its worker died before reporting) must not be
    # validated again: the balance it spent would refuse it and the saga drop its refund.
    checks = PaymentChecks("USD", "card", max_amount=1_000_000)
    first = ledger.debit("p1", "alice", 10_000, checks=checks)
    again = ledger.debit("p1", "alice", 10_000, checks=checks)
    assert (again.amount, again.balance_after, again.duplicate) == (10_000, 0, True)
    assert first.balance_after == 0


def test_validation_reports_insufficient_funds(ledger: Ledger) -> None:
    result = ledger.validate("alice", 10_001, "USD", "card", max_amount=1_000_000)
    assert result.reason == "insufficient_funds"


def test_the_velocity_window_is_read_from_the_databases_clock(
    postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 34, item 13: account workers on several hosts share one PostgreSQL ledger. Worker
    A's clock runs 2 minutes slow when it debits p1; worker B, on time, must still see p1 in
    its 60 s window. By each worker's own clock, p1 fell outside it and the limit let p2 by.
    (SQLite is one file on one host: one clock.)"""
    from orchestrator import ledger as module

    ledger = Ledger(postgres.database())
    ledger.open_account("alice", 10_000)

    class SlowClock(datetime):
        @classmethod
        def now(cls, tz: tzinfo | None = None) -> SlowClock:
            return cls.fromtimestamp((datetime_now(tz) - timedelta(minutes=2)).timestamp(), tz)

    datetime_now = datetime.now
    monkeypatch.setattr(module, "datetime", SlowClock)
    ledger.debit("p1", "alice", 100, velocity=(60.0, 1))
    monkeypatch.undo()
    with pytest.raises(VelocityLimitExceeded):
        ledger.debit("p2", "alice", 100, velocity=(60.0, 1))


def test_velocity_counts_recent_debits_of_other_payments(ledger: Ledger) -> None:
    for i in range(3):
        ledger.debit(f"v{i}", "alice", 10)
    assert ledger.velocity("alice", "v-new", window_s=60, max_payments=4).valid
    refused = ledger.velocity("alice", "v-new", window_s=60, max_payments=3)
    assert (refused.valid, refused.reason) == (False, "velocity_limit")
    # the payment's own debit (a retried activity) does not count against it
    assert ledger.velocity("alice", "v2", window_s=60, max_payments=3).valid
    assert ledger.velocity("erin", "v-new", window_s=60, max_payments=1).valid


def test_a_refund_before_its_debit_tombstones_the_payment(ledger: Ledger) -> None:
    assert ledger.refund("late").amount == 0  # the compensation ran first
    with pytest.raises(PaymentCompensated):
        ledger.debit("late", "alice", 1_000)  # the attempt that timed out commits afterwards
    assert ledger.balances()["alice"] == 10_000
    assert ledger.snapshot().tombstones == ["late"]


def test_refund_goes_to_the_debited_account_whatever_the_caller_says(ledger: Ledger) -> None:
    ledger.open_account("bob", 0)
    ledger.debit("p4", "alice", 700)
    refund = ledger.refund("p4")
    assert refund.amount == 700
    assert ledger.balances()["alice"] == 10_000 and ledger.balances()["bob"] == 0


@pytest.mark.parametrize("amount", [0, -5])
def test_debit_refuses_amounts_of_zero_or_less(ledger: Ledger, amount: int) -> None:
    with pytest.raises(InvalidAmount):
        ledger.debit("p5", "alice", amount)
    assert ledger.balances()["alice"] == 10_000


def test_the_lock_wait_is_shorter_than_the_account_activity_timeout() -> None:
    lock_wait, timeout = LOCK_WAIT_S, ACCOUNT_CALL.total_seconds()
    assert lock_wait < timeout / 1.5  # an attempt fails well before it could time out


def _debit_many(path: str, start: int, count: int) -> int:
    """Debit ``count`` payments of alice with a limit of 3 per minute; how many went through."""
    ledger = Ledger(path)
    done = 0
    for i in range(start, start + count):
        try:
            ledger.debit(f"burst{i}", "alice", 10, velocity=(60.0, 3))
            done += 1
        except VelocityLimitExceeded:
            pass
    return done


def test_velocity_limit_holds_under_concurrent_threads(ledger: Ledger) -> None:
    with ThreadPoolExecutor(max_workers=16) as pool:
        done = sum(pool.map(lambda i: _debit_many(ledger.path, i, 1), range(40)))
    assert done == 3
    assert sum(e.kind == "debit" for e in ledger.entries()) == 3


def test_velocity_limit_holds_across_processes(ledger: Ledger) -> None:
    """Several account-worker processes share one ledger file."""
    with ProcessPoolExecutor(max_workers=4, mp_context=mp.get_context("spawn")) as pool:
        done = sum(pool.map(_debit_many, [ledger.path] * 4, range(0, 40, 10), [10] * 4))
    assert done == 3
    assert sum(e.kind == "debit" for e in ledger.entries()) == 3


def test_the_velocity_check_alone_is_racy(ledger: Ledger) -> None:
    """Why the limit lives in the debit: check-then-debit lets a burst through (a mutant)."""
    barrier = threading.Barrier(8)

    def check_then_debit(i: int) -> None:
        allowed = ledger.velocity("alice", f"r{i}", 60, 3).valid
        barrier.wait()  # every check happens before any debit, as under load
        if allowed:
            ledger.debit(f"r{i}", "alice", 10)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(check_then_debit, range(8)))
    assert sum(e.kind == "debit" for e in ledger.entries()) == 8


def test_a_locked_database_fails_an_operation_within_the_lock_wait(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "l.db", lock_wait_s=0.2)
    ledger.open_account("alice", 100)
    with hold_ledger_lock(ledger.path):
        began = time.monotonic()
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            ledger.validate("alice", 10, "USD", "card", 1_000)
        assert time.monotonic() - began < 2
    assert ledger.validate("alice", 10, "USD", "card", 1_000).valid


def test_a_postgres_ledger_held_by_another_writer_fails_within_the_lock_wait(
    postgres: PostgresServer,
) -> None:
    ledger = Ledger(postgres.database(), lock_wait_s=0.2)
    ledger.open_account("alice", 100)
    with psycopg.connect(ledger.path) as other, other.transaction():
        other.execute("SELECT pg_advisory_xact_lock(%s)", (WRITER_LOCK,))
        began = time.monotonic()
        with pytest.raises(psycopg.errors.LockNotAvailable):
            ledger.debit("p-locked", "alice", 10)
        assert time.monotonic() - began < 2
    assert ledger.debit("p-locked", "alice", 10).amount == 10  # retried once the lock is free


def test_the_harness_lock_makes_a_postgres_ledger_unavailable(postgres: PostgresServer) -> None:
    """The ledger-outage fault on the cluster backend: every operation fails within the lock
    wait while the harness holds the writer lock, and works once it lets go."""
    ledger = Ledger(postgres.database(), lock_wait_s=0.2, pool_size=2)
    try:
        ledger.open_account("alice", 100)
        with hold_ledger_lock(ledger.path):
            for operation in (
                lambda: ledger.validate("alice", 10, "USD", "card", 1_000),
                lambda: ledger.debit("p-held", "alice", 10),
                lambda: ledger.refund("p-held"),
            ):
                began = time.monotonic()
                with pytest.raises(psycopg.errors.LockNotAvailable):
                    operation()
                assert time.monotonic() - began < 2
        assert ledger.debit("p-held", "alice", 10).amount == 10
    finally:
        ledger.close()


def test_a_pooled_ledger_survives_a_database_restart() -> None:
    """kill -9 of PostgreSQL under a pooled ledger (the db-outage scenario): operations fail
    fast while it is down, and the first one after the restart succeeds (the pool replaces the
    dead connections instead of handing them out)."""
    require_binary("initdb")
    with postgres_server() as server:
        ledger = Ledger(server.database(), lock_wait_s=1.0, pool_size=4)
        try:
            ledger.open_account("alice", 1_000)
            with ThreadPoolExecutor(4) as threads:  # every pooled connection in use once
                list(threads.map(lambda i: ledger.debit(f"before-{i}", "alice", 10), range(4)))
            server.process.signal(signal.SIGKILL)
            assert server.process.popen is not None
            server.process.popen.wait(10)
            began = time.monotonic()
            with pytest.raises(DB_ERRORS):
                ledger.debit("during", "alice", 10)
            assert time.monotonic() - began < 5
            server.process.start()
            assert ledger.debit("after", "alice", 10).balance_after == 1_000 - 50
        finally:
            ledger.close()
