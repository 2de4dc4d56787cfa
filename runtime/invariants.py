"""The money invariants of DESIGN.md, as pure functions: one statement of each, read by the
ledger audit (:mod:`runtime.audit`) and by the harness's checkers (``chaos.verdicts.checkers``).

- Money is conserved: balances plus what the provider holds (authorized or captured) equal the
  opening total.
- A payment's money matches its final state: succeeded, one debit and no refund, its charge
  held; failed or cancelled, at most one debit and as many refunds, its charge not held; in
  review (``refund_requires_review``: the provider captured and refused the void), its debit and
  its captured charge, no refund.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

#: Charge statuses in which the provider holds the customer's money.
HELD = ("authorized", "captured")


class JournalEntry(Protocol):
    """What the invariants read of a ledger entry."""

    @property
    def kind(self) -> str: ...

    @property
    def amount(self) -> int: ...


@dataclass(frozen=True)
class Totals:
    """The three sides of the conservation equation."""

    opening: int
    balances: int
    held: int

    @property
    def conserved(self) -> bool:
        """Balances plus held money equal the opening total."""
        return self.balances + self.held == self.opening


def totals(
    entries: Iterable[JournalEntry],
    balances: Mapping[str, int],
    charges: Iterable[Mapping[str, Any]],
) -> Totals:
    """The opening total, the balances and what the provider holds."""
    return Totals(
        opening=sum(e.amount for e in entries if e.kind == "opening"),
        balances=sum(balances.values()),
        held=sum(int(c["amount"]) for c in charges if c["status"] in HELD),
    )


def money_problems(
    state: str, debits: int, refunds: int, charge: str, *, review: bool = False
) -> list[str]:
    """What is wrong with one payment's money, given its final ``state``, its ledger debits and
    refunds, and its provider charge's status (``none`` without one); empty when it holds."""
    if review:
        if debits != 1 or refunds or charge != "captured":
            return [f"in review with {debits} debit(s), {refunds} refund(s), charge {charge}"]
        return []
    if state == "succeeded":
        problems = []
        if debits != 1 or refunds:
            problems.append(f"succeeded with {debits} debit(s) and {refunds} refund(s)")
        if charge not in HELD:
            problems.append(f"succeeded but its charge is {charge}")
        return problems
    if state in ("failed", "cancelled"):
        problems = []
        if debits > 1 or refunds != debits:
            problems.append(f"{state} with {debits} debit(s) and {refunds} refund(s)")
        if charge in HELD:
            problems.append(f"{state} but its charge is {charge}")
        return problems
    return [f"not terminal ({state})"]
