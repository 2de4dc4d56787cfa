"""``ledger``: the accounts database unavailable (a lock the harness holds) or slow.

``unavailable``: the harness holds the ledger's writer lock (an exclusive transaction on the
SQLite file; on PostgreSQL the advisory lock every ledger transaction takes), so every ledger
operation waits the ledger's lock wait and fails, and Temporal retries it; when the window ends
the lock is released and work resumes. ``slow``: the account service's failpoints
(:mod:`orchestrator.failpoints`) delay the chosen operations.

Judged by the money verdicts (a stalled debit that commits after its saga gave up must still be
refunded), not by an effect of its own.
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import msgspec
import psycopg

from chaos.nemesis.base import Driver, FaultBase, Nemesis, Target, refuse
from orchestrator.failpoints import FILE_NAME as FAILPOINTS_FILE
from orchestrator.failpoints import Failpoint, Operation, write_failpoints
from orchestrator.ledger import WRITER_LOCK, is_postgres

if TYPE_CHECKING:
    from chaos.explore.virtual.schedule import Schedule
    from chaos.scenario.format import Scenario

LedgerOperation = Literal["validate", "debit", "refund"]


class LedgerFault(FaultBase, tag="ledger", tag_field="kind", kw_only=True):
    """``unavailable``: the accounts database refuses all work for the window (the harness holds
    an exclusive lock; each operation fails after the ledger's 5 s lock wait and is retried),
    then recovers. ``slow``: each of ``operations`` takes ``latency_ms`` longer in the account
    service (a failpoint), e.g. to hold payments in their debit."""

    action: Literal["unavailable", "slow"]
    """``unavailable``: the accounts database locked for the window; ``slow``: the failpoint delay.
"""
    latency_ms: Annotated[int, msgspec.Meta(ge=0)] = 0
    """``slow``: the delay per operation (required, > 0)."""
    operations: list[LedgerOperation] = msgspec.field(default_factory=lambda: ["debit"])
    """``slow``: the operations delayed."""
    after_commit: bool = False
    """``slow``: the delay comes after the operation took effect, before it answers."""
    stall: bool = False
    """``slow``: the delay is inside the database call (a stalled disk): the worker cannot cancel
    it when the activity times out, so an operation slower than its timeout still takes effect,
    after the saga gave up on it. Default: a delay before the call, which the timeout cancels."""


class LedgerLock:
    """An exclusive lock on the ledger database, held from :meth:`acquire` to :meth:`release`."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._db: sqlite3.Connection | psycopg.Connection[Any] | None = None

    def acquire(self) -> None:
        """Take the lock (waits for a running transaction to finish, at most 10 s)."""
        if is_postgres(self.path):
            pg = psycopg.connect(self.path, autocommit=True, connect_timeout=10)
            pg.execute("SET lock_timeout = '10s'")
            pg.execute("SELECT pg_advisory_lock(%s)", (WRITER_LOCK,))
            self._db = pg
            return
        # Applied and reverted from different worker threads of the fault timeline.
        db = sqlite3.connect(self.path, timeout=10, isolation_level=None, check_same_thread=False)
        db.execute("BEGIN EXCLUSIVE")
        self._db = db

    def release(self) -> None:
        """Let the ledger work again (closing the session releases a PostgreSQL lock even if
        the server restarted meanwhile)."""
        db, self._db = self._db, None
        if isinstance(db, sqlite3.Connection):
            db.execute("ROLLBACK")
            db.close()
        elif db is not None:
            db.close()

    @property
    def held(self) -> bool:
        """Whether the lock is held now."""
        return self._db is not None


@contextmanager
def hold_ledger_lock(path: str | Path) -> Iterator[None]:
    """Make the ledger unavailable for the ``with`` block."""
    lock = LedgerLock(path)
    lock.acquire()
    try:
        yield
    finally:
        lock.release()


def slow_ledger(
    failpoints_path: str | Path,
    operations: list[Operation],
    delay_ms: int,
    *,
    after_commit: bool = False,
    stall: bool = False,
) -> None:
    """Delay each of ``operations`` by ``delay_ms`` in the account service, before it runs,
    (``after_commit``) after it took effect and before it answers, or (``stall``) inside its
    database call, where the activity's timeout cannot cancel it."""
    if stall:
        point = Failpoint(stall_ms=delay_ms)
    elif after_commit:
        point = Failpoint(delay_after_ms=delay_ms)
    else:
        point = Failpoint(delay_ms=delay_ms)
    write_failpoints(failpoints_path, dict.fromkeys(operations, point))


def heal_ledger(failpoints_path: str | Path) -> None:
    """Remove every failpoint."""
    write_failpoints(failpoints_path, {})


def failpoints_path(target: Target) -> Path:
    """The account service's failpoints file."""
    return target.state_dir / FAILPOINTS_FILE


class LedgerNemesis(Nemesis[LedgerFault]):
    """Takes the lock or writes the failpoints at the start; releases or removes them at the
    end."""

    fault_type = LedgerFault
    explored = True
    virtual_fields = ("ledger_outage", "debit_slow", "debit_stall_s", "debit_lost")

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._lock: LedgerLock | None = None

    @classmethod
    def describe(cls, fault: LedgerFault) -> str:
        if fault.action == "slow":
            return f"ledger slow (+{fault.latency_ms} ms on {', '.join(fault.operations)})"
        return "ledger unavailable"

    @classmethod
    def check(cls, fault: LedgerFault, scenario: Scenario, source: str, where: str) -> None:
        if fault.action == "slow" and not fault.latency_ms:
            refuse(source, f"{where}.latency_ms", "a slow ledger needs latency_ms > 0")
        if fault.stall and fault.after_commit:
            refuse(source, f"{where}.stall", "a stall is inside the call: not with after_commit")
        if fault.action == "slow" and not fault.operations:
            refuse(source, f"{where}.operations", "empty list")

    @classmethod
    def refusal(cls, fault: LedgerFault, driver: Driver) -> str | None:
        if driver == "compose" and fault.action == "slow":
            return "a slow ledger (a deployment honours no failpoints)"
        return None

    @classmethod
    def lands_by_s(cls, fault: LedgerFault) -> float | None:
        if not fault.stall:
            return None
        # A stalled database call runs on after its activity timed out.
        return fault.at_s + fault.duration_s + fault.latency_ms / 1000

    @classmethod
    def generate(cls, rng: random.Random, span: float) -> dict[str, Any]:
        if rng.random() < 0.5:
            return {"action": "unavailable"}
        return {
            "action": "slow",
            "latency_ms": 1500,
            "operations": rng.sample(["validate", "debit", "refund"], 2),
            "after_commit": rng.random() < 0.5,
        }

    @classmethod
    def from_virtual(cls, schedule: Schedule, missing: list[str]) -> list[dict[str, Any]]:
        faults: list[dict[str, Any]] = []
        plans = schedule.payments
        if schedule.ledger_outage is not None:
            start, length = schedule.ledger_outage
            faults.append(
                {"kind": "ledger", "action": "unavailable", "at_s": start, "duration_s": length}
            )
        first = min(p.start_s for p in plans)
        stall_s = max((p.debit_stall_s for p in plans if p.debit_slow), default=12.0)
        for flag, how in (("debit_slow", "stall"), ("debit_lost", "after_commit")):
            if any(getattr(p, flag) for p in plans):
                # Every debit in the window outlasts its 10 s timeout: stalled inside the
                # database call it commits late; delayed after the commit its answer never comes
                # in time.
                faults.append(
                    {
                        "kind": "ledger",
                        "action": "slow",
                        "operations": ["debit"],
                        "latency_ms": int((stall_s if how == "stall" else 12.0) * 1000),
                        how: True,
                        "at_s": first,
                        "duration_s": 5,
                        "expect_effect": False,
                    }
                )
        return faults

    def apply(self) -> None:
        fault = self.fault
        if fault.action == "unavailable":
            assert self.target.stack.config is not None
            self._lock = LedgerLock(self.target.stack.config.ledger_path)
            self._lock.acquire()
        else:
            slow_ledger(
                failpoints_path(self.target),
                fault.operations,
                fault.latency_ms,
                after_commit=fault.after_commit,
                stall=fault.stall,
            )

    def revert(self) -> None:
        self.close()
        if self.fault.action == "slow":
            heal_ledger(failpoints_path(self.target))

    def close(self) -> list[str]:
        lock, self._lock = self._lock, None
        if lock is None:
            return []
        lock.release()
        return ["released the ledger lock"]

    @classmethod
    def restore(cls, target: Target) -> list[str]:
        if not failpoints_path(target).exists():
            return []
        heal_ledger(failpoints_path(target))
        return ["removed the ledger failpoints"]
