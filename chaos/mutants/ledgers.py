"""Ledger mutants: the real :class:`~orchestrator.ledger.Ledger` with one money-safety rule
undone, for the saga mutants that attack the account service (see
``chaos.mutants.sagas``)."""

from __future__ import annotations

from datetime import datetime

from orchestrator.ledger import Db, Ledger
from orchestrator.models import LedgerResult, PaymentChecks


class VelocityOffByOneLedger(Ledger):
    """The velocity limit refuses one payment too many: at ``max_payments - 1`` debits."""

    def debit(
        self,
        payment_id: str,
        user_id: str,
        amount: int,
        *,
        velocity: tuple[float, int] | None = None,
        checks: PaymentChecks | None = None,
    ) -> LedgerResult:
        """As the ledger's, with the limit one lower."""
        if velocity is not None:
            velocity = (velocity[0], max(velocity[1] - 1, 0))
        return super().debit(payment_id, user_id, amount, velocity=velocity, checks=checks)


class NoTombstoneLedger(Ledger):
    """A refund that finds no debit leaves no tombstone, so a late debit still commits."""

    def refund(self, payment_id: str, *, repair_reason: str | None = None) -> LedgerResult:
        """As the ledger's, then the tombstone it may have left is removed."""
        result = super().refund(payment_id, repair_reason=repair_reason)
        if result.amount == 0 and not result.duplicate:
            with self._tx() as db:
                db.execute("DELETE FROM tombstones WHERE payment_id=?", (payment_id,))
        return result


class WorkerClockLedger(Ledger):
    """Stamps entries and bounds the velocity window by the account worker's own clock, not the
    one clock every worker of a shared ledger reads (the database's): account workers whose
    clocks disagree each let a payment through the limit."""

    def _clock(self, db: Db) -> datetime:
        return self.host_clock()
