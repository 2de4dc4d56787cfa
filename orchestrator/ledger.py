"""The account ledger: balances and an append-only journal of movements, in SQLite (a file
path, the embedded default) or PostgreSQL (a ``postgresql://`` URL: several account workers on
several machines can share it).

Every movement is an ``entries`` row with a unique idempotency key (``<payment_id>:debit``,
``<payment_id>:refund``), so a retried activity can never move money twice. Opening balances are
entries too, which makes conservation checkable from the journal alone. Each operation runs in
its own transaction that excludes every other writer of what it touches, across processes too.
So check-then-write is safe. In SQLite that is every writer (``BEGIN IMMEDIATE``: one file, one
host). In PostgreSQL (``locking="account"``, the default) it is transaction-scoped advisory locks
on the payment and then on the account it touches, always in that order (so no two transactions
wait for each other in a cycle): writers of different accounts and payments run in parallel,
while two payments of one account (a hot account) still queue, as the balance, the velocity
window and the journal order of that account need. Every writer also takes the ledger-wide
writer lock *shared*, so whoever holds it exclusively (the harness's ledger-outage fault, a
schema change) stops them all. ``locking="global"`` takes that lock exclusively instead: the
one-writer ledger this was before, kept as the baseline ``make bench-ledger`` measures against.
That is what makes the rules below hold under any concurrency:

- a refund gives back what the payment's debit took, to the account it was taken from;
- a refund that finds no debit leaves a tombstone, and a later debit of that payment is refused
  (an attempt that timed out can still commit after its compensation ran);
- the velocity limit is checked in the debit's own transaction.

A lock is waited for at most :data:`LOCK_WAIT_S` (SQLite's busy timeout, PostgreSQL's
``lock_timeout``), well inside the account activities' timeout,
so a locked database fails an attempt (and Temporal retries it) instead of timing it out while
the attempt may still commit.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, Protocol, cast

import psycopg

from orchestrator.config import PAYMENT_METHODS
from orchestrator.errors import (
    AccountNotFound,
    InsufficientFunds,
    InvalidAmount,
    PaymentCompensated,
    PaymentInvalid,
    PaymentSettled,
    VelocityLimitExceeded,
)
from orchestrator.models import (
    LedgerDebit,
    LedgerResult,
    PaymentChecks,
    Reason,
    ValidationResult,
)
from orchestrator.pg_pool import ConnectionPool
from orchestrator.private_files import create_private

SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    user_id  TEXT PRIMARY KEY,
    balance  INTEGER NOT NULL CHECK (balance >= 0),
    currency TEXT NOT NULL,
    active   INTEGER NOT NULL DEFAULT 1,
    methods  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS entries (
    id              INTEGER PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    payment_id      TEXT NOT NULL,
    user_id         TEXT NOT NULL REFERENCES accounts(user_id),
    kind            TEXT NOT NULL CHECK (kind IN ('opening', 'debit', 'refund')),
    amount          INTEGER NOT NULL CHECK (amount >= 0),
    balance_after   INTEGER NOT NULL,
    created_at      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS entries_payment ON entries(payment_id);
CREATE INDEX IF NOT EXISTS entries_user_kind ON entries(user_id, kind, created_at);
CREATE TABLE IF NOT EXISTS tombstones (
    payment_id TEXT PRIMARY KEY,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS repairs (
    id         INTEGER PRIMARY KEY,
    payment_id TEXT NOT NULL,
    kind       TEXT NOT NULL,
    reason     TEXT NOT NULL,
    amount     INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (payment_id, kind)
);
CREATE TABLE IF NOT EXISTS settled (
    payment_id TEXT PRIMARY KEY,
    created_at TEXT NOT NULL
);
"""

POSTGRES_SCHEMA = (
    SCHEMA.replace("id              INTEGER PRIMARY KEY", "id              BIGSERIAL PRIMARY KEY")
    .replace("id         INTEGER PRIMARY KEY", "id         BIGSERIAL PRIMARY KEY")
    .replace("INTEGER NOT NULL", "BIGINT NOT NULL")
)

#: Seconds a transaction waits for a lock before the operation fails (and is retried).
LOCK_WAIT_S = 5.0
#: The PostgreSQL advisory lock every transaction takes: shared with per-account locking,
#: exclusive with ``locking="global"``; held exclusively, it stops the whole ledger.
WRITER_LOCK = 0x5A6A_0001
#: The two-key advisory lock spaces (``pg_advisory_xact_lock(space, key)``, apart from the
#: one-key WRITER_LOCK): a payment's, then an account's.
PAYMENT_SPACE, ACCOUNT_SPACE = 1, 2
Locking = Literal["account", "global"]
#: SQLite's durability per transaction. FULL: a debit or refund Temporal has recorded as done is
#: on disk before the activity answers, so a power loss cannot take it back (NORMAL in WAL mode
#: can lose the last transactions).
SQLITE_SYNCHRONOUS = "FULL"
#: What a ledger that cannot answer raises, whichever the database.
DB_ERRORS: tuple[type[Exception], ...] = (sqlite3.Error, psycopg.Error)


def host_clock() -> datetime:
    """Now, by this host's clock."""
    return datetime.now(UTC)


def is_postgres(location: str) -> bool:
    """A ``postgresql://`` (or ``postgres://``) URL rather than a SQLite file path."""
    return location.startswith(("postgresql://", "postgres://"))


class Cursor(Protocol):
    """What the ledger reads from a statement's result, in either database."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...


class Db(Protocol):
    """A connection in a transaction: SQLite's own, or :class:`_Postgres`."""

    def execute(self, sql: str, params: Sequence[Any] = ..., /) -> Cursor: ...


class _Postgres:
    """A psycopg connection speaking the ledger's SQLite-flavoured SQL (``?`` placeholders,
    ``INSERT OR IGNORE``)."""

    def __init__(self, connection: psycopg.Connection[Any], stamp: datetime | None = None) -> None:
        self.connection = connection
        #: The database's clock when the transaction held its locks (None outside one).
        self.stamp = stamp

    def execute(self, sql: str, params: Sequence[Any] = (), /) -> Cursor:
        if sql.startswith("INSERT OR IGNORE"):
            sql = sql.replace("INSERT OR IGNORE", "INSERT", 1) + " ON CONFLICT DO NOTHING"
        return self.connection.execute(sql.replace("?", "%s"), params)


@dataclass(frozen=True)
class Account:
    """A row of the accounts table."""

    user_id: str
    balance: int
    currency: str
    active: bool
    methods: tuple[str, ...]


@dataclass(frozen=True)
class Entry:
    """A row of the journal."""

    idempotency_key: str
    payment_id: str
    user_id: str
    kind: str
    amount: int
    balance_after: int
    created_at: str = ""


@dataclass(frozen=True)
class Repair:
    """A repair the reconciler made, journaled with its reason."""

    payment_id: str
    kind: str
    reason: str
    amount: int


@dataclass(frozen=True)
class Snapshot:
    """Journal, balances, tombstones and repairs, read in one transaction."""

    entries: list[Entry]
    balances: dict[str, int]
    tombstones: list[str]
    repairs: list[Repair]


class Ledger:
    """Accounts and journal in one SQLite file or PostgreSQL database; safe to use from several
    threads and processes."""

    def __init__(
        self,
        path: str | Path,
        *,
        lock_wait_s: float = LOCK_WAIT_S,
        clock: Callable[[], datetime] | None = None,
        pool_size: int = 0,
        keep_open: bool = False,
        locking: Locking = "account",
    ) -> None:
        """``clock`` stamps entries and bounds the velocity window (the virtual explorer gives
        it virtual time); by default it is the database's clock on PostgreSQL, the host's on
        SQLite (:meth:`_clock`). ``pool_size`` > 0 keeps that many PostgreSQL connections open (the
        account service: one per activity thread) instead of one connection per transaction;
        ``keep_open`` keeps one SQLite connection for every transaction (one thread only: the
        virtual explorer, where a connection per transaction was a fifth of its time);
        :meth:`close` closes them. ``locking`` is PostgreSQL's (see the module's docstring)."""
        self.path = str(path)
        self.locking = locking
        self.clock = clock
        self.host_clock: Callable[[], datetime] = host_clock
        """This account worker's own clock: the SQLite ledger's (one file, one host), never a
        shared ledger's (the virtual explorer gives each of its account workers its own)."""
        self.lock_wait_s = lock_wait_s
        self.postgres = is_postgres(self.path)
        self._sqlite: sqlite3.Connection | None = None
        self._pool = (
            ConnectionPool(self.path, pool_size, lock_wait_s)
            if self.postgres and pool_size > 0
            else None
        )
        if self.postgres:
            with psycopg.connect(self.path, autocommit=True) as pg:
                pg.execute("SELECT pg_advisory_lock(%s)", (WRITER_LOCK,))
                try:
                    for statement in POSTGRES_SCHEMA.split(";"):
                        if statement.strip():
                            pg.execute(statement)
                finally:
                    pg.execute("SELECT pg_advisory_unlock(%s)", (WRITER_LOCK,))
            return
        create_private(Path(self.path))
        db = sqlite3.connect(self.path, timeout=30)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SCHEMA)  # executescript manages its own transaction
        finally:
            db.close()
        self._sqlite = self._sqlite_connect() if keep_open else None

    def close(self) -> None:
        """Close the pooled or kept connections (a no-op without them)."""
        if self._pool is not None:
            self._pool.close()
        if self._sqlite is not None:
            self._sqlite.close()
            self._sqlite = None

    def _sqlite_connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=self.lock_wait_s, isolation_level=None)
        db.execute(f"PRAGMA synchronous={SQLITE_SYNCHRONOUS}")
        db.execute("PRAGMA foreign_keys=ON")
        return db

    @contextmanager
    def _connection(
        self, opening: bytes
    ) -> Iterator[tuple[psycopg.Connection[Any], psycopg.Cursor[Any]]]:
        """An autocommit connection and the cursor of ``opening`` run on it."""
        if self._pool is None:
            timeout = max(1, int(self.lock_wait_s))
            with psycopg.connect(self.path, autocommit=True, connect_timeout=timeout) as pg:
                yield pg, pg.execute(opening)
            return
        with self._pool.connection(opening) as taken:
            yield taken

    @contextmanager
    def _tx(self, *, payments: Collection[str] = (), account: str | None = None) -> Iterator[Db]:
        """A transaction holding the locks of ``payments`` and then ``account`` (more accounts
        may be locked later with :meth:`_lock_account`, never more payments). One with neither
        only reads: on PostgreSQL it sees one snapshot (repeatable read) and waits for no
        writer but the ledger-wide lock's exclusive holder."""
        if self.postgres:
            # One round trip opens the transaction, takes its locks in this order (the
            # ledger-wide lock, then its payments sorted, then its account) and reads the
            # database's clock once they are held: a debit is five round trips, not eleven.
            opening = ["BEGIN", f"SET LOCAL lock_timeout = '{int(self.lock_wait_s * 1000)}ms'"]
            if self.locking == "global":
                opening.append(f"SELECT pg_advisory_xact_lock({WRITER_LOCK})")
            else:
                if not payments and account is None:  # reads only: one consistent snapshot
                    opening[0] = "BEGIN ISOLATION LEVEL REPEATABLE READ"
                opening.append(f"SELECT pg_advisory_xact_lock_shared({WRITER_LOCK})")
                opening += [_advisory(PAYMENT_SPACE, p) for p in sorted(set(payments))]
                if account is not None:
                    opening.append(_advisory(ACCOUNT_SPACE, account))
            opening.append("SELECT clock_timestamp()")
            # No parameters: literal integers. Left open by an error, the transaction is
            # rolled back when the connection is given back or closed.
            with self._connection("; ".join(opening).encode()) as (pg, cursor):
                while cursor.nextset():
                    pass
                stamp: datetime = cursor.fetchone()[0]  # type: ignore[index]
                yield _Postgres(pg, stamp.astimezone(UTC))
                pg.execute("COMMIT")
            return
        kept = self._sqlite
        db = kept if kept is not None else self._sqlite_connect()
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield cast(Db, db)  # sqlite3's own stubs spell the same signature differently
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        finally:
            if kept is None:
                db.close()

    def _lock_account(self, db: Db, account: str) -> None:
        """Lock one more account inside a transaction (a refund learns its account from the
        debit it gives back)."""
        if isinstance(db, _Postgres) and self.locking == "account":
            db.connection.execute(_advisory(ACCOUNT_SPACE, account).encode())

    def _clock(self, db: Db) -> datetime:
        """Now, by the one clock every writer shares: the database's on PostgreSQL (account
        workers on several hosts must not each judge the velocity window by their own clock),
        the host's on SQLite (one file, one host), or the clock the ledger was given."""
        if self.clock is not None:
            return self.clock()
        if isinstance(db, _Postgres):
            assert db.stamp is not None, "the clock is read inside a transaction"
            return db.stamp
        return self.host_clock()

    def _now(self, db: Db) -> str:
        return self._clock(db).isoformat(timespec="milliseconds")

    def open_account(
        self,
        user_id: str,
        balance: int,
        *,
        currency: str = "USD",
        active: bool = True,
        methods: tuple[str, ...] = PAYMENT_METHODS,
    ) -> bool:
        """Create an account with an opening balance; returns False if it already exists."""
        with self._tx(account=user_id) as db:
            if db.execute("SELECT 1 FROM accounts WHERE user_id=?", (user_id,)).fetchone():
                return False
            db.execute(
                "INSERT INTO accounts(user_id, balance, currency, active, methods)"
                " VALUES (?,?,?,?,?)",
                (user_id, balance, currency, int(active), ",".join(methods)),
            )
            db.execute(
                "INSERT INTO entries(idempotency_key, payment_id, user_id, kind, amount,"
                " balance_after, created_at) VALUES (?,?,?,?,?,?,?)",
                (f"opening:{user_id}", "", user_id, "opening", balance, balance, self._now(db)),
            )
            return True

    def account(self, user_id: str) -> Account | None:
        """The account of a user, or None."""
        with self._tx() as db:
            return _account(db.execute(ACCOUNT_SQL, (user_id,)).fetchone())

    def validate(
        self, user_id: str, amount: int, currency: str, method: str, max_amount: int
    ) -> ValidationResult:
        """Check that a payment could be debited now; moves no money."""
        return _validation(self.account(user_id), user_id, amount, currency, method, max_amount)

    def velocity(
        self, user_id: str, payment_id: str, window_s: float, max_payments: int
    ) -> ValidationResult:
        """Refuse a payment when the user already has ``max_payments`` debits in the window.

        Only the pre-``atomic-velocity`` saga path calls this: a check in its own transaction
        cannot hold under concurrency. :meth:`debit` enforces the limit atomically.
        """
        with self._tx() as db:
            recent = self._recent_debits(db, user_id, payment_id, window_s)
        if recent >= max_payments:
            return ValidationResult(
                False, Reason.VELOCITY_LIMIT, f"{recent} payments in the last {window_s:g}s"
            )
        return ValidationResult(True)

    def _recent_debits(self, db: Db, user_id: str, payment_id: str, window_s: float) -> int:
        since = (self._clock(db) - timedelta(seconds=window_s)).isoformat(timespec="milliseconds")
        (recent,) = db.execute(RECENT_DEBITS_SQL, (user_id, since, payment_id)).fetchone()
        return int(recent)

    def _existing(self, db: Db, key: str) -> tuple[int, int] | None:
        row = db.execute(
            "SELECT amount, balance_after FROM entries WHERE idempotency_key=?", (key,)
        ).fetchone()
        return None if row is None else (row[0], row[1])

    def _move(self, db: Db, key: str, payment_id: str, user_id: str, kind: str, delta: int) -> int:
        (balance,) = db.execute(
            "UPDATE accounts SET balance = balance + ? WHERE user_id=? RETURNING balance",
            (delta, user_id),
        ).fetchone()
        db.execute(
            "INSERT INTO entries(idempotency_key, payment_id, user_id, kind, amount,"
            " balance_after, created_at) VALUES (?,?,?,?,?,?,?)",
            (key, payment_id, user_id, kind, abs(delta), balance, self._now(db)),
        )
        return int(balance)

    def debit(
        self,
        payment_id: str,
        user_id: str,
        amount: int,
        *,
        velocity: tuple[float, int] | None = None,
        checks: PaymentChecks | None = None,
    ) -> LedgerResult:
        """Take ``amount`` from the account, once per payment, never after its refund.

        ``velocity=(window_s, max_payments)`` refuses the debit when the user already has that
        many debits in the window, checked in this transaction. ``checks`` makes it validate the
        payment first, as :meth:`validate` does and in the same order (raising
        :class:`PaymentInvalid`); a payment already debited is not validated again, so a retry
        of a debit that committed finds its debit instead of the balance it spent.
        """
        if amount <= 0 and checks is None:
            raise InvalidAmount(f"{payment_id}: cannot debit {amount}")
        key = f"{payment_id}:debit"
        with self._tx(payments=[payment_id], account=user_id) as db:
            # What the payment already is (settled, debited, tombstoned), its account and the
            # user's debits in the velocity window, in one round trip.
            window_s, max_payments = velocity if velocity is not None else (0.0, 0)
            since = (self._clock(db) - timedelta(seconds=window_s)).isoformat(
                timespec="milliseconds"
            )
            row = db.execute(
                "SELECT EXISTS (SELECT 1 FROM settled WHERE payment_id=?),"
                " (SELECT amount FROM entries WHERE idempotency_key=?),"
                " (SELECT balance_after FROM entries WHERE idempotency_key=?),"
                " EXISTS (SELECT 1 FROM tombstones WHERE payment_id=?),"
                f" ({RECENT_DEBITS_SQL}) AS recent,"
                " a.user_id, a.balance, a.currency, a.active, a.methods"
                " FROM (SELECT 1) AS one LEFT JOIN accounts AS a ON a.user_id=?",
                (payment_id, key, key, payment_id, user_id, since, payment_id, user_id),
            ).fetchone()
            settled, done_amount, done_balance, tombstoned, recent = row[:5]
            if settled:
                raise PaymentSettled(f"{payment_id} was settled: its id cannot be used again")
            if done_amount is not None:
                return LedgerResult(amount=done_amount, balance_after=done_balance, duplicate=True)
            if tombstoned:
                raise PaymentCompensated(f"{payment_id} was already compensated")
            account = _account(row[5:] if row[5] is not None else None)
            if checks is not None:
                verdict = _validation(
                    account,
                    user_id,
                    amount,
                    checks.currency,
                    checks.payment_method,
                    checks.max_amount,
                )
                if verdict.reason is not None:
                    raise PaymentInvalid(verdict.reason, verdict.detail)
            if account is None:
                raise AccountNotFound(user_id)
            if velocity is not None and recent >= max_payments:
                raise VelocityLimitExceeded(
                    f"{user_id}: {recent} payments in the last {window_s:g}s"
                )
            if account.balance < amount:
                raise InsufficientFunds(f"{user_id}: balance {account.balance} < {amount}")
            balance = self._move(db, key, payment_id, user_id, "debit", -amount)
            return LedgerResult(amount=amount, balance_after=balance)

    def refund(self, payment_id: str, *, repair_reason: str | None = None) -> LedgerResult:
        """Give back the payment's debit once, to the debited account.

        A payment never debited refunds nothing and is tombstoned, so its debit can never
        commit afterwards. A settled payment refunds nothing either (a saga under a reused id
        must not give back what the first one kept). ``repair_reason`` journals the refund as a
        reconciler repair.
        """
        key = f"{payment_id}:refund"
        with self._tx(payments=[payment_id]) as db:
            if _settled(db, payment_id):
                return LedgerResult(amount=0, balance_after=0, duplicate=True)
            if (done := self._existing(db, key)) is not None:
                return LedgerResult(amount=done[0], balance_after=done[1], duplicate=True)
            debit = db.execute(
                "SELECT user_id, amount FROM entries WHERE idempotency_key=?",
                (f"{payment_id}:debit",),
            ).fetchone()
            if debit is None:
                db.execute(
                    "INSERT OR IGNORE INTO tombstones(payment_id, created_at) VALUES (?,?)",
                    (payment_id, self._now(db)),
                )
                return LedgerResult(amount=0, balance_after=0)
            user_id, amount = debit
            self._lock_account(db, user_id)
            balance = self._move(db, key, payment_id, user_id, "refund", amount)
            if repair_reason is not None:
                self._journal_repair(db, payment_id, "refund", repair_reason, amount)
            return LedgerResult(amount=amount, balance_after=balance)

    def record_repair(self, payment_id: str, kind: str, reason: str, amount: int) -> bool:
        """Journal a repair made elsewhere (a void at the provider); False if already there."""
        with self._tx(payments=[payment_id]) as db:
            return self._journal_repair(db, payment_id, kind, reason, amount)

    def _journal_repair(self, db: Db, payment_id: str, kind: str, reason: str, amount: int) -> bool:
        cursor = db.execute(
            "INSERT OR IGNORE INTO repairs(payment_id, kind, reason, amount, created_at)"
            " VALUES (?,?,?,?,?)",
            (payment_id, kind, reason, amount, self._now(db)),
        )
        return cursor.rowcount == 1

    def unrefunded_debits(self) -> list[LedgerDebit]:
        """Every debit whose payment has no refund entry, oldest first."""
        with self._tx() as db:
            rows = db.execute(
                "SELECT d.payment_id, d.user_id, d.amount, d.created_at FROM entries d"
                " WHERE d.kind='debit' AND NOT EXISTS (SELECT 1 FROM entries r"
                " WHERE r.idempotency_key = d.payment_id || ':refund') ORDER BY d.id"
            ).fetchall()
        return [LedgerDebit(*row) for row in rows]

    def unsettled_debits(self) -> list[LedgerDebit]:
        """Every debit of a payment the reconciler has not settled, refunded or not, oldest
        first."""
        with self._tx() as db:
            rows = db.execute(
                "SELECT d.payment_id, d.user_id, d.amount, d.created_at, EXISTS (SELECT 1 FROM"
                " entries r WHERE r.idempotency_key = d.payment_id || ':refund') FROM entries d"
                " WHERE d.kind='debit' AND NOT EXISTS (SELECT 1 FROM settled s"
                " WHERE s.payment_id = d.payment_id) ORDER BY d.id"
            ).fetchall()
        return [LedgerDebit(p, u, a, c, bool(refunded)) for p, u, a, c, refunded in rows]

    def not_settled(self, payment_ids: Collection[str]) -> list[str]:
        """Those of these payments the reconciler has not settled, in the order given."""
        with self._tx() as db:
            settled = {p for p in payment_ids if _settled(db, p)}
        return [p for p in payment_ids if p not in settled]

    def mark_settled(self, payment_ids: Collection[str]) -> int:
        """Mark payments settled (the reconciler skips them from now on); how many were new."""
        added = 0
        with self._tx(payments=payment_ids) as db:
            now = self._now(db)
            for payment_id in payment_ids:
                cursor = db.execute(
                    "INSERT OR IGNORE INTO settled(payment_id, created_at) VALUES (?,?)",
                    (payment_id, now),
                )
                added += cursor.rowcount == 1
        return added

    def snapshot(self) -> Snapshot:
        """Everything the checkers read, in one transaction."""
        with self._tx() as db:
            entries = db.execute(
                "SELECT idempotency_key, payment_id, user_id, kind, amount, balance_after,"
                " created_at FROM entries ORDER BY id"
            ).fetchall()
            balances = dict(db.execute("SELECT user_id, balance FROM accounts").fetchall())
            tombstones = [r[0] for r in db.execute("SELECT payment_id FROM tombstones").fetchall()]
            repairs = db.execute(
                "SELECT payment_id, kind, reason, amount FROM repairs ORDER BY id"
            ).fetchall()
        return Snapshot(
            [Entry(*row) for row in entries],
            balances,
            tombstones,
            [Repair(*row) for row in repairs],
        )

    def entry_counts(self, payment_ids: Collection[str]) -> dict[str, int]:
        """Entries per kind for these payments: a plain read, which no writer blocks (WAL), so
        it answers even while the ledger refuses work."""
        if not payment_ids:
            return {}  # PostgreSQL refuses an empty IN ()
        marks = ",".join("?" * len(payment_ids))
        sql = f"SELECT kind, COUNT(*) FROM entries WHERE payment_id IN ({marks}) GROUP BY kind"
        with _reader(self.path, self.lock_wait_s) as db:
            return dict(db.execute(sql, list(payment_ids)).fetchall())

    def balances(self) -> dict[str, int]:
        """Every account's balance."""
        with self._tx() as db:
            return dict(db.execute("SELECT user_id, balance FROM accounts").fetchall())

    def entries(self) -> list[Entry]:
        """The whole journal, oldest first."""
        with self._tx() as db:
            rows = db.execute(
                "SELECT idempotency_key, payment_id, user_id, kind, amount, balance_after,"
                " created_at FROM entries ORDER BY id"
            ).fetchall()
        return [Entry(*row) for row in rows]


#: A user's debits since a time, but a payment's own (parameters: user, since, payment).
RECENT_DEBITS_SQL = (
    "SELECT COUNT(*) FROM entries WHERE user_id=? AND kind='debit'"
    " AND created_at >= ? AND payment_id != ?"
)
ACCOUNT_SQL = "SELECT user_id, balance, currency, active, methods FROM accounts WHERE user_id=?"


def _validation(
    account: Account | None, user_id: str, amount: int, currency: str, method: str, max_amount: int
) -> ValidationResult:
    """The first check a payment fails against its payer's account, or valid."""
    if account is None:
        return ValidationResult(False, Reason.ACCOUNT_NOT_FOUND, f"no account for {user_id!r}")
    checks = [
        (account.active, Reason.ACCOUNT_INACTIVE, "account is not active"),
        (method in account.methods, Reason.UNSUPPORTED_METHOD, f"method {method!r} not allowed"),
        (amount > 0, Reason.INVALID_AMOUNT, "amount must be > 0"),
        (amount <= max_amount, Reason.AMOUNT_OVER_LIMIT, f"amount over limit {max_amount}"),
        (currency == account.currency, Reason.CURRENCY_MISMATCH, f"account is {account.currency}"),
        (account.balance >= amount, Reason.INSUFFICIENT_FUNDS, f"balance {account.balance}"),
    ]
    for ok, reason, detail in checks:
        if not ok:
            return ValidationResult(False, reason, detail)
    return ValidationResult(True)


def _advisory(space: int, name: str) -> str:
    """The statement taking the transaction-scoped advisory lock of ``name`` in ``space`` (its
    key is a 32-bit hash, an integer literal: nothing of the name reaches the SQL). Two names
    that hash alike share a lock: more waiting, never less safety."""
    key = int.from_bytes(hashlib.blake2b(name.encode(), digest_size=4).digest(), signed=True)
    return f"SELECT pg_advisory_xact_lock({space}, {key})"


def _settled(db: Db, payment_id: str) -> bool:
    return (
        db.execute("SELECT 1 FROM settled WHERE payment_id=?", (payment_id,)).fetchone() is not None
    )


def _account(row: tuple[Any, ...] | None) -> Account | None:
    if row is None:
        return None
    return Account(row[0], row[1], row[2], bool(row[3]), tuple(row[4].split(",")))


def peek_account(path: str, user_id: str) -> Account | None:
    """A user's account read without a transaction lock (a plain WAL read that no writer blocks,
    so it answers even while the ledger refuses work) and without creating anything: for the
    API's early checks. The saga's validation stays the authority."""
    with _reader(path, 1.0) as db:
        return _account(db.execute(ACCOUNT_SQL, (user_id,)).fetchone())


@contextmanager
def _reader(location: str, timeout_s: float) -> Iterator[Db]:
    """A read-only connection that takes no lock."""
    if is_postgres(location):
        with psycopg.connect(location, connect_timeout=max(1, int(timeout_s))) as pg:
            yield _Postgres(pg)
        return
    db = sqlite3.connect(f"file:{location}?mode=ro", uri=True, timeout=timeout_s)
    try:
        yield cast(Db, db)
    finally:
        db.close()
