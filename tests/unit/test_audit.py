"""The ledger check catches lost money, double refunds and missing refunds."""

from __future__ import annotations

from orchestrator.ledger import Entry
from runtime.audit import audit


def entry(payment: str, kind: str, amount: int) -> Entry:
    return Entry(f"{payment}:{kind}", payment, "alice", kind, amount, 0)


OPENING = Entry("opening:alice", "", "alice", "opening", 1000, 1000)


def test_a_clean_run_passes() -> None:
    entries = [
        OPENING,
        entry("ok", "debit", 100),
        entry("bad", "debit", 50),
        entry("bad", "refund", 50),
    ]
    charges = [
        {"payment_id": "ok", "amount": 100, "status": "authorized"},
        {"payment_id": "bad", "amount": 50, "status": "voided"},
    ]
    report = audit(entries, {"alice": 900}, charges, {"ok": "succeeded", "bad": "failed"})
    assert report.ok, report.summary()
    assert "ledger balanced" in report.summary()


def test_missing_refund_and_lost_money_are_reported() -> None:
    entries = [OPENING, entry("bad", "debit", 50)]
    report = audit(entries, {"alice": 950}, [], {"bad": "cancelled"})
    assert not report.ok and not report.conserved
    assert report.problems == ["bad: cancelled with 1 debit(s) and 0 refund(s)"]


def test_an_authorized_charge_left_after_refund_breaks_conservation() -> None:
    entries = [OPENING, entry("bad", "debit", 50), entry("bad", "refund", 50)]
    charge = {"payment_id": "bad", "amount": 50, "status": "authorized"}
    report = audit(entries, {"alice": 1000}, [charge], {"bad": "failed"})
    assert not report.conserved
    assert report.problems == ["bad: failed but its charge is authorized"]


def test_a_payment_in_review_keeps_its_debit_and_its_capture() -> None:
    entries = [OPENING, entry("rev", "debit", 50)]
    captured = {"payment_id": "rev", "amount": 50, "status": "captured"}
    report = audit(entries, {"alice": 950}, [captured], {"rev": "failed"}, frozenset({"rev"}))
    assert report.ok, report.summary()
    # the same payment without the review flag is a failed payment that kept the money
    assert not audit(entries, {"alice": 950}, [captured], {"rev": "failed"}).ok


def test_a_refunded_review_creates_money() -> None:
    entries = [OPENING, entry("rev", "debit", 50), entry("rev", "refund", 50)]
    captured = {"payment_id": "rev", "amount": 50, "status": "captured"}
    report = audit(entries, {"alice": 1000}, [captured], {"rev": "failed"}, frozenset({"rev"}))
    assert not report.ok and not report.conserved


def test_a_payment_still_in_flight_is_reported() -> None:
    report = audit([OPENING], {"alice": 1000}, [], {"p": "processing"})
    assert report.problems == ["p: not terminal (processing)"]
