"""The SQLite ledger: idempotent movements, no negative balances, validation reasons."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.errors import InsufficientFunds
from orchestrator.ledger import Ledger


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
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


def test_opening_balances_are_journal_entries(ledger: Ledger) -> None:
    opening = sum(e.amount for e in ledger.entries() if e.kind == "opening")
    assert opening == sum(ledger.balances().values()) == 30_000
    assert ledger.open_account("alice", 5) is False


@pytest.mark.parametrize(
    ("user", "amount", "currency", "method", "reason"),
    [
        ("nobody", 100, "USD", "card", "account_not_found"),
        ("carol", 100, "USD", "card", "account_inactive"),
        ("erin", 100, "USD", "wallet", "unsupported_method"),
        ("alice", 0, "USD", "card", "invalid_amount"),
        ("alice", 5_001, "USD", "card", "amount_over_limit"),
        ("alice", 100, "EUR", "card", "currency_mismatch"),
        ("alice", 5_000, "USD", "card", None),
    ],
)
def test_validation_reasons(
    ledger: Ledger, user: str, amount: int, currency: str, method: str, reason: str | None
) -> None:
    result = ledger.validate(user, amount, currency, method, max_amount=5_000)
    assert (result.valid, result.reason) == (reason is None, reason)


def test_validation_reports_insufficient_funds(ledger: Ledger) -> None:
    result = ledger.validate("alice", 10_001, "USD", "card", max_amount=1_000_000)
    assert result.reason == "insufficient_funds"


def test_velocity_counts_recent_debits_of_other_payments(ledger: Ledger) -> None:
    for i in range(3):
        ledger.debit(f"v{i}", "alice", 10)
    assert ledger.velocity("alice", "v-new", window_s=60, max_payments=4).valid
    refused = ledger.velocity("alice", "v-new", window_s=60, max_payments=3)
    assert (refused.valid, refused.reason) == (False, "velocity_limit")
    # the payment's own debit (a retried activity) does not count against it
    assert ledger.velocity("alice", "v2", window_s=60, max_payments=3).valid
    assert ledger.velocity("erin", "v-new", window_s=60, max_payments=1).valid
