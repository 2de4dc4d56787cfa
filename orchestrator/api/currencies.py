"""The currency each payer's account pays in, for the API's early check of ``POST /payments``."""

from __future__ import annotations

from orchestrator.ledger import DB_ERRORS, peek_account


class AccountCurrencies:
    """Each account's currency, read from the ledger once per user.

    The ledger fixes an account's currency when it opens the account and never changes it, so
    a currency once read stays right; an account not found (not opened yet) or a ledger that
    cannot be read is asked again next time. Without this, every payment opened a ledger
    connection on the API's event loop (a new PostgreSQL session on the cluster backend).
    """

    def __init__(self, ledger_path: str) -> None:
        self.ledger_path = ledger_path
        self._known: dict[str, str] = {}

    def of(self, user: str) -> str | None:
        """The currency of ``user``'s account, or None when the ledger does not say (yet)."""
        known = self._known.get(user)
        if known is not None:
            return known
        try:
            account = peek_account(self.ledger_path, user)
        except DB_ERRORS:
            return None
        if account is None:
            return None
        self._known[user] = account.currency
        return account.currency
