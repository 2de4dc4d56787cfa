"""The API reads an account's currency from the ledger once, and never caches an absence."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.api import currencies
from orchestrator.api.currencies import AccountCurrencies
from orchestrator.ledger import Ledger


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    seen: list[str] = []
    real = currencies.peek_account

    def counting(path: str, user: str) -> object:
        seen.append(user)
        return real(path, user)

    monkeypatch.setattr(currencies, "peek_account", counting)
    return seen


def test_a_currency_is_read_once_per_user(tmp_path: Path, reads: list[str]) -> None:
    ledger = Ledger(tmp_path / "ledger.db")
    ledger.open_account("alice", 100)
    ledger.open_account("erin", 100, currency="EUR")
    known = AccountCurrencies(str(tmp_path / "ledger.db"))
    assert [known.of("alice"), known.of("erin"), known.of("alice"), known.of("erin")] == [
        "USD",
        "EUR",
        "USD",
        "EUR",
    ]
    assert reads == ["alice", "erin"]


def test_an_account_opened_later_is_found(tmp_path: Path, reads: list[str]) -> None:
    ledger = Ledger(tmp_path / "ledger.db")
    known = AccountCurrencies(str(tmp_path / "ledger.db"))
    assert known.of("bob") is None
    ledger.open_account("bob", 100, currency="GBP")
    assert known.of("bob") == "GBP"
    assert reads == ["bob", "bob"]


def test_an_unreadable_ledger_says_nothing(tmp_path: Path) -> None:
    assert AccountCurrencies(str(tmp_path / "missing" / "ledger.db")).of("alice") is None
