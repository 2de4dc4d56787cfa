"""The ledger check: the money invariants (:mod:`runtime.invariants`) over a stack's ledger and
provider, after its payments ended; also no entry of any kind twice for one payment."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from orchestrator.config import StackConfig
from orchestrator.ledger import Entry, Ledger
from runtime.admin_client import provider_charges
from runtime.invariants import money_problems, totals


@dataclass(frozen=True)
class AuditReport:
    """What the check found; ``ok`` when no invariant is broken."""

    opening_total: int
    balances_total: int
    captured_total: int
    problems: list[str] = field(default_factory=list)

    @property
    def conserved(self) -> bool:
        """Balances plus captured money equal the opening total."""
        return self.balances_total + self.captured_total == self.opening_total

    @property
    def ok(self) -> bool:
        """Every invariant held."""
        return self.conserved and not self.problems

    def summary(self) -> str:
        """One line for people."""
        verdict = "ledger balanced" if self.ok else "LEDGER BROKEN"
        line = (
            f"{verdict}: balances {self.balances_total} + captured {self.captured_total}"
            f" = {self.balances_total + self.captured_total} (opening {self.opening_total})"
        )
        return "\n".join([line, *(f"  - {p}" for p in self.problems)])


def audit(
    entries: list[Entry],
    balances: dict[str, int],
    charges: list[dict[str, Any]],
    final_states: dict[str, str],
    review: frozenset[str] = frozenset(),
) -> AuditReport:
    """Check the invariants; ``final_states`` maps payment id to its terminal state, ``review``
    holds the payments that ended ``refund_requires_review``."""
    problems: list[str] = []
    status = {c["payment_id"]: c["status"] for c in charges}
    kinds = Counter((e.payment_id, e.kind) for e in entries if e.kind != "opening")
    for (payment_id, kind), count in kinds.items():
        if count > 1:
            problems.append(f"{payment_id}: {count} {kind} entries")
    for payment_id, state in final_states.items():
        found = money_problems(
            state,
            kinds[(payment_id, "debit")],
            kinds[(payment_id, "refund")],
            status.get(payment_id, "none"),
            review=payment_id in review,
        )
        problems += [f"{payment_id}: {p}" for p in found]
    money = totals(entries, balances, charges)
    return AuditReport(money.opening, money.balances, money.held, problems)


def ledger_check(
    config: StackConfig, final_states: dict[str, str], review: frozenset[str] = frozenset()
) -> AuditReport:
    """Audit the ledger and the provider after the payments in ``final_states`` ended;
    ``review`` names those that ended ``refund_requires_review``."""
    snapshot = Ledger(config.ledger_path).snapshot()
    return audit(
        snapshot.entries,
        snapshot.balances,
        provider_charges(config.admin_urls.provider),
        final_states,
        review,
    )
