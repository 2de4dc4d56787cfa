"""The provider's rules, without I/O: the one model the HTTP simulator and the virtual world
both run."""

from __future__ import annotations

import pytest

from simulators.provider_rules import Provider, Refused


def _charge(book: Provider, key: str = "k", *, now: float = 0.0, **extra: object) -> tuple:
    return book.charge(key, "p", 100, charge_id=f"ch_{key}", now=now, **extra)  # type: ignore[arg-type]


def test_a_key_is_one_charge() -> None:
    book = Provider()
    first, new = _charge(book, declined=False)
    again, second_new = _charge(book, declined=True)
    assert new and not second_new and again is first and first.outcome == "succeeded"


def test_lenient_a_void_before_the_charge_leaves_a_tombstone() -> None:
    book = Provider()
    assert book.void("k", strict=False, now=0) == (None, False)
    with pytest.raises(Refused, match="k was voided"):
        _charge(book, declined=False)


def test_strict_a_void_before_the_charge_is_forgotten() -> None:
    book = Provider()
    assert book.void("k", strict=True, now=0) == (None, False)
    charge, new = _charge(book, declined=False, capture_after_s=10.0)
    assert new and charge.status(5.0) == "authorized" and charge.status(10.0) == "captured"


def test_a_capture_cannot_be_voided_and_an_authorization_cannot_be_refunded() -> None:
    book = Provider()
    _charge(book, declined=False, capture_after_s=10.0)
    with pytest.raises(Refused) as refused:
        book.refund("k", now=1.0)
    assert refused.value.why == "authorized"
    with pytest.raises(Refused) as captured:
        book.void("k", strict=True, now=11.0)
    assert captured.value.why == "captured"
    charge, refunded = book.refund("k", now=11.0)
    assert refunded and charge is not None and charge.status(11.0) == "refunded"


def test_voids_and_refunds_of_what_holds_nothing_change_nothing() -> None:
    book = Provider()
    declined, _ = _charge(book, declined=True)
    assert book.void("k", strict=False, now=0) == (declined, False)
    assert book.refund("k", now=0) == (declined, False)
    _charge(book, "v", declined=False)
    assert book.void("v", strict=False, now=0)[1] is True
    assert book.void("v", strict=False, now=0)[1] is True  # still voided: idempotent
    assert book.refund("v", now=0)[1] is False
