"""The ledger check: the money invariants of DESIGN.md, computed from the ledger and the provider.

- Money is conserved: balances + what the provider holds (authorized or captured) = the opening
  total.
- No payment was debited twice; no payment was refunded twice.
- Every debit of a failed or cancelled payment was refunded exactly once, and its charge is not
  live; no succeeded payment was refunded. A payment in review (``refund_requires_review``: the
  provider captured and refused the void) keeps its debit and its captured charge.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from orchestrator.config import StackConfig
from orchestrator.ledger import Entry, Ledger
from runtime.admin_client import provider_charges


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


HELD = ("authorized", "captured")


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
    held = {c["payment_id"]: c["status"] for c in charges if c["status"] in HELD}
    kinds = Counter((e.payment_id, e.kind) for e in entries if e.kind != "opening")
    for (payment_id, kind), count in kinds.items():
        if count > 1:
            problems.append(f"{payment_id}: {count} {kind} entries")
    for payment_id, state in final_states.items():
        debited = kinds[(payment_id, "debit")]
        refunded = kinds[(payment_id, "refund")]
        if payment_id in review:
            if refunded or held.get(payment_id) != "captured":
                problems.append(
                    f"{payment_id}: in review with {refunded} refund(s) and charge"
                    f" {held.get(payment_id, 'not held')}"
                )
            continue
        if state in ("failed", "cancelled") and debited and refunded != 1:
            problems.append(f"{payment_id}: {state} but its debit was refunded {refunded} times")
        if state in ("failed", "cancelled") and payment_id in held:
            problems.append(f"{payment_id}: {state} but its charge is {held[payment_id]}")
        if state == "succeeded" and (not debited or refunded):
            problems.append(
                f"{payment_id}: succeeded with {debited} debit(s), {refunded} refund(s)"
            )
        if state not in ("succeeded", "failed", "cancelled"):
            problems.append(f"{payment_id}: not terminal ({state})")
    return AuditReport(
        opening_total=sum(e.amount for e in entries if e.kind == "opening"),
        balances_total=sum(balances.values()),
        captured_total=sum(c["amount"] for c in charges if c["status"] in HELD),
        problems=problems,
    )


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
