"""The API's durable record of the payment requests it accepted, one row per payment id.

Temporal forgets a closed execution after its retention (or ``temporal workflow delete``), and
with it the id that made a retried ``POST /payments`` a replay: the same Idempotency-Key would
then start a second saga under the same payment id, which finds the first one's debit and charge
and reverses them. This record outlives the execution. A payment id whose saga was started is
never started again; a key reused with another body is refused, as before, from the record.

SQLite, in the stack's state directory (``payment-requests.db``): the API is one process, and
each request costs two short transactions (claim, then started).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from orchestrator.private_files import create_private

FILE_NAME = "payment-requests.db"
SCHEMA = """
CREATE TABLE IF NOT EXISTS payment_requests (
    payment_id  TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    started     INTEGER NOT NULL DEFAULT 0,
    created_at  TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class RecordedRequest:
    """What the record holds of one payment request."""

    user_id: str
    fingerprint: str
    started: bool


class RequestLog:
    """Payment requests by payment id, in one SQLite file; safe across threads."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        create_private(self.path)
        with self._db() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SCHEMA)

    def _db(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=5.0)
        db.execute("PRAGMA synchronous=FULL")  # a started saga must never be forgotten
        return db

    def claim(self, payment_id: str, user_id: str, fingerprint: str) -> RecordedRequest:
        """The request recorded under ``payment_id``: this one if it is the first."""
        db = self._db()
        try:
            with db:
                db.execute(
                    "INSERT OR IGNORE INTO payment_requests"
                    "(payment_id, user_id, fingerprint, created_at) VALUES (?,?,?,?)",
                    (payment_id, user_id, fingerprint, datetime.now(UTC).isoformat()),
                )
                row = db.execute(
                    "SELECT user_id, fingerprint, started FROM payment_requests WHERE payment_id=?",
                    (payment_id,),
                ).fetchone()
        finally:
            db.close()
        return RecordedRequest(row[0], row[1], bool(row[2]))

    def mark_started(self, payment_id: str) -> None:
        """Its saga was started (or found already started): it is never started again."""
        db = self._db()
        try:
            with db:
                db.execute(
                    "UPDATE payment_requests SET started=1 WHERE payment_id=?", (payment_id,)
                )
        finally:
            db.close()
