"""The account ledger: balances and an append-only journal of movements in SQLite.

Every movement is an ``entries`` row with a unique idempotency key (``<payment_id>:debit``,
``<payment_id>:refund``), so a retried activity can never move money twice. Opening balances are
entries too, which makes conservation checkable from the journal alone. Each operation runs in
its own ``BEGIN IMMEDIATE`` transaction: SQLite serialises writers, so check-then-write is safe.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from orchestrator.config import PAYMENT_METHODS
from orchestrator.errors import AccountNotFound, InsufficientFunds
from orchestrator.models import LedgerResult, Reason, ValidationResult

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
"""


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


class Ledger:
    """Accounts and journal in one SQLite file; safe to use from several threads and processes."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        db = sqlite3.connect(self.path, timeout=30)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SCHEMA)  # executescript manages its own transaction
        finally:
            db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA foreign_keys=ON")
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        finally:
            db.close()

    @staticmethod
    def _now() -> str:
        return datetime.now(UTC).isoformat(timespec="milliseconds")

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
        with self._tx() as db:
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
                (f"opening:{user_id}", "", user_id, "opening", balance, balance, self._now()),
            )
            return True

    def account(self, user_id: str) -> Account | None:
        """The account of a user, or None."""
        with self._tx() as db:
            row = db.execute(
                "SELECT user_id, balance, currency, active, methods FROM accounts WHERE user_id=?",
                (user_id,),
            ).fetchone()
        if row is None:
            return None
        return Account(row[0], row[1], row[2], bool(row[3]), tuple(row[4].split(",")))

    def validate(
        self, user_id: str, amount: int, currency: str, method: str, max_amount: int
    ) -> ValidationResult:
        """Check that a payment could be debited now; moves no money."""
        account = self.account(user_id)
        checks: list[tuple[bool, Reason, str]] = []
        if account is None:
            return ValidationResult(False, Reason.ACCOUNT_NOT_FOUND, f"no account for {user_id!r}")
        checks = [
            (account.active, Reason.ACCOUNT_INACTIVE, "account is not active"),
            (
                method in account.methods,
                Reason.UNSUPPORTED_METHOD,
                f"method {method!r} not allowed",
            ),
            (amount > 0, Reason.INVALID_AMOUNT, "amount must be > 0"),
            (amount <= max_amount, Reason.AMOUNT_OVER_LIMIT, f"amount over limit {max_amount}"),
            (
                currency == account.currency,
                Reason.CURRENCY_MISMATCH,
                f"account is {account.currency}",
            ),
            (account.balance >= amount, Reason.INSUFFICIENT_FUNDS, f"balance {account.balance}"),
        ]
        for ok, reason, detail in checks:
            if not ok:
                return ValidationResult(False, reason, detail)
        return ValidationResult(True)

    def velocity(
        self, user_id: str, payment_id: str, window_s: float, max_payments: int
    ) -> ValidationResult:
        """Refuse a payment when the user already has ``max_payments`` debits in the window."""
        since = (datetime.now(UTC) - timedelta(seconds=window_s)).isoformat(timespec="milliseconds")
        with self._tx() as db:
            (recent,) = db.execute(
                "SELECT COUNT(*) FROM entries WHERE user_id=? AND kind='debit'"
                " AND created_at >= ? AND payment_id != ?",
                (user_id, since, payment_id),
            ).fetchone()
        if recent >= max_payments:
            return ValidationResult(
                False, Reason.VELOCITY_LIMIT, f"{recent} payments in the last {window_s:g}s"
            )
        return ValidationResult(True)

    def _existing(self, db: sqlite3.Connection, key: str) -> tuple[int, int] | None:
        row = db.execute(
            "SELECT amount, balance_after FROM entries WHERE idempotency_key=?", (key,)
        ).fetchone()
        return None if row is None else (row[0], row[1])

    def _move(
        self, db: sqlite3.Connection, key: str, payment_id: str, user_id: str, kind: str, delta: int
    ) -> int:
        db.execute("UPDATE accounts SET balance = balance + ? WHERE user_id=?", (delta, user_id))
        (balance,) = db.execute(
            "SELECT balance FROM accounts WHERE user_id=?", (user_id,)
        ).fetchone()
        db.execute(
            "INSERT INTO entries(idempotency_key, payment_id, user_id, kind, amount,"
            " balance_after, created_at) VALUES (?,?,?,?,?,?,?)",
            (key, payment_id, user_id, kind, abs(delta), balance, self._now()),
        )
        return int(balance)

    def debit(self, payment_id: str, user_id: str, amount: int) -> LedgerResult:
        """Take ``amount`` from the account, once per payment."""
        key = f"{payment_id}:debit"
        with self._tx() as db:
            if (done := self._existing(db, key)) is not None:
                return LedgerResult(amount=done[0], balance_after=done[1], duplicate=True)
            row = db.execute("SELECT balance FROM accounts WHERE user_id=?", (user_id,)).fetchone()
            if row is None:
                raise AccountNotFound(user_id)
            if row[0] < amount:
                raise InsufficientFunds(f"{user_id}: balance {row[0]} < {amount}")
            balance = self._move(db, key, payment_id, user_id, "debit", -amount)
            return LedgerResult(amount=amount, balance_after=balance)

    def refund(self, payment_id: str, user_id: str) -> LedgerResult:
        """Give back the debit of a payment, once; a payment never debited refunds nothing."""
        key = f"{payment_id}:refund"
        with self._tx() as db:
            if (done := self._existing(db, key)) is not None:
                return LedgerResult(amount=done[0], balance_after=done[1], duplicate=True)
            debit = self._existing(db, f"{payment_id}:debit")
            if debit is None:
                row = db.execute(
                    "SELECT balance FROM accounts WHERE user_id=?", (user_id,)
                ).fetchone()
                return LedgerResult(amount=0, balance_after=int(row[0]) if row else 0)
            balance = self._move(db, key, payment_id, user_id, "refund", debit[0])
            return LedgerResult(amount=debit[0], balance_after=balance)

    def balances(self) -> dict[str, int]:
        """Every account's balance."""
        with self._tx() as db:
            return dict(db.execute("SELECT user_id, balance FROM accounts").fetchall())

    def entries(self) -> list[Entry]:
        """The whole journal, oldest first."""
        with self._tx() as db:
            rows = db.execute(
                "SELECT idempotency_key, payment_id, user_id, kind, amount, balance_after"
                " FROM entries ORDER BY id"
            ).fetchall()
        return [Entry(*row) for row in rows]
