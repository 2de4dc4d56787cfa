"""Clock skew between account workers: two processes debit one account under the velocity
limit, one of them with its host clock ten minutes off.

On PostgreSQL (account workers on several hosts) the ledger stamps entries and bounds the
velocity window by the database's clock, so the skewed worker changes nothing. On SQLite (one
file, one host, one clock by design) the same skew lets a second debit through: the control that
shows the skew took effect, and why a SQLite ledger is never shared between hosts.
"""

from __future__ import annotations

import multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path

import pytest

import orchestrator.ledger
from orchestrator.errors import VelocityLimitExceeded
from orchestrator.ledger import Ledger
from tests.postgres import PostgresServer

SKEW = timedelta(minutes=-10)
VELOCITY = (60.0, 1)


def _skew_this_process(skew_s: float) -> None:
    """The host clock of this (account worker) process, ``skew_s`` off."""

    class Skewed(datetime):
        @classmethod
        def now(cls, tz=None):  # type: ignore[no-untyped-def, override]
            return datetime.now(tz) + timedelta(seconds=skew_s)

    orchestrator.ledger.datetime = Skewed  # type: ignore[misc]


def _debit(url: str, payment_id: str) -> str:
    ledger = Ledger(url)
    try:
        ledger.debit(payment_id, "u", 100, velocity=VELOCITY)
        return "debited"
    except VelocityLimitExceeded:
        return "refused"
    finally:
        ledger.close()


def _race(url: str) -> list[str]:
    """A debit by the skewed worker, then one by an exact one, then the reverse."""
    setup = Ledger(url)
    setup.open_account("u", 10_000)
    setup.close()
    context = mp.get_context("spawn")
    with ProcessPoolExecutor(1, context, _skew_this_process, (SKEW.total_seconds(),)) as skewed:
        first = skewed.submit(_debit, url, "p1").result()
        second = _debit(url, "p2")
    return [first, second]


def test_a_skewed_worker_cannot_widen_the_velocity_window_on_postgresql(
    postgres: PostgresServer,
) -> None:
    assert _race(postgres.database()) == ["debited", "refused"]


def test_on_sqlite_the_same_skew_does_widen_it(tmp_path: Path) -> None:
    """The control: the skew reaches the ledger's clock where the ledger reads the host's."""
    assert _race(str(tmp_path / "ledger.db")) == ["debited", "debited"]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_stamps_come_from_the_one_clock(
    backend: str, postgres: PostgresServer, tmp_path: Path
) -> None:
    url = str(tmp_path / "ledger.db") if backend == "sqlite" else postgres.database()
    _race(url)
    stamps = [datetime.fromisoformat(e.created_at) for e in Ledger(url).snapshot().entries]
    spread = max(stamps) - min(stamps)
    if backend == "postgresql":
        assert spread < timedelta(seconds=30), stamps  # the database's clock, for both
    else:
        assert spread >= timedelta(minutes=9), stamps  # each process its own
