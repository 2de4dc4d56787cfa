"""The reference model: each outcome rule kept by one hand-made payment and broken by another."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from chaos.verdicts.bundle import Bundle, Execution, LedgerEntry, Payment
from chaos.verdicts.oracle import OUTCOMES, RULES, outcomes

AT = "2026-12-07T10:00:00+00:00"
TIMEOUT_S = 300.0


def _execution(**changes: Any) -> Execution:
    base = Execution("COMPLETED", None, [], [], "COMPLETED", fraud_passed=True)
    return msgspec.structs.replace(base, **changes)


def _bundle(
    state: str,
    reason: str | None = None,
    *,
    outcome: str | None = "succeeded",
    channel: str | None = None,
    message: str | None = None,
    opening: int = 1000,
    others: int = 0,
    limit: int = 100,
    healthy: bool = False,
    refused: tuple[str, ...] = (),
    **execution: Any,
) -> Bundle:
    """One payment ``p`` of 100 by alice, and ``others`` other payments' debits of 100 each."""
    entries = [LedgerEntry("", "alice", "opening", opening, AT)]
    entries += [LedgerEntry(f"o{i}", "alice", "debit", 100, AT) for i in range(others)]
    charges = [] if outcome is None else [{"payment_id": "p", "amount": 100, "outcome": outcome}]
    said = f"Your payment p is {state}" + (f" ({reason})" if reason else "")
    default_channel = "email" if state == "succeeded" else "sms"
    notices = [
        {
            "notification_id": "n",
            "payment_id": "p",
            "channel": channel or default_channel,
            "message": message or said,
        }
    ]
    api = {"state": state, "reason": reason}
    payment = Payment("p", "alice", 100, False, api, _execution(**execution), healthy=healthy)
    refusals = [{"notification_id": "n", "payment_id": "p", "channel": c} for c in refused]
    return Bundle(entries, {}, [], charges, notices, [payment], 60.0, limit, TIMEOUT_S, refusals)


def _untold(bundle: Bundle) -> Bundle:
    return msgspec.structs.replace(bundle, notifications=[])


def _broken(bundle: Bundle) -> list[str]:
    check = outcomes(bundle)
    assert check.name == OUTCOMES and check.checked == 1
    return [c.expected for c in check.counterexamples]


KEPT = {
    "a success on its own charge, fraud passed, told by email": _bundle("succeeded"),
    "declined by its own charge": _bundle("failed", "provider_declined", outcome="declined"),
    "rejected by the fraud check": _bundle("failed", "fraud_rejected", fraud_passed=False),
    "the fraud check timed out": _bundle(
        "failed", "fraud_check_failed", fraud_child="TIMED_OUT", fraud_passed=None
    ),
    "funds short once the other debits landed": _bundle(
        "failed", "insufficient_funds", opening=250, others=2
    ),
    "the velocity limit reached": _bundle("failed", "velocity_limit", others=3, limit=3),
    "timed out on the configured timer": _bundle(
        "failed", "callback_timeout", timers_s=[TIMEOUT_S]
    ),
    "cancelled by its user": _bundle("cancelled", "cancel_requested", cancel_signals=1),
    "cancelled by a Temporal cancel": _bundle("cancelled", "cancel_requested", cancel_requests=1),
    "healthy, and succeeded": _bundle("succeeded", healthy=True),
    "healthy, refused by the ledger for funds": _bundle(
        "failed", "insufficient_funds", opening=250, others=2, healthy=True
    ),
    "healthy, refused by validation": _bundle(
        "failed", "account_inactive", outcome=None, healthy=True
    ),
    "healthy, rejected by the fraud service": _bundle(
        "failed", "fraud_rejected", fraud_passed=False, healthy=True
    ),
    "email refused, a success told by sms": _bundle("succeeded", channel="sms", refused=("email",)),
    "sms refused, a failure told by email": _bundle(
        "failed", "provider_declined", outcome="declined", channel="email", refused=("sms",)
    ),
    "both channels refused, nothing told": _untold(_bundle("succeeded", refused=("email", "sms"))),
}

BROKEN = {
    "own charge decides": [
        _bundle("succeeded", outcome="declined"),
        _bundle("succeeded", outcome=None),
        _bundle("failed", "provider_declined", outcome="succeeded"),
    ],
    "fraud fails closed": [
        _bundle("succeeded", fraud_child="TIMED_OUT", fraud_passed=None),
        _bundle("succeeded", fraud_passed=False),
        _bundle("failed", "fraud_rejected", fraud_passed=True),
        _bundle("failed", "fraud_check_failed", fraud_passed=True),
    ],
    "refusals have a cause": [
        _bundle("failed", "insufficient_funds", opening=1000, others=2),
        _bundle("failed", "velocity_limit", others=2, limit=3),
    ],
    "a healthy payment succeeds": [
        _bundle("failed", "provider_unavailable", outcome=None, healthy=True),
        _bundle("failed", "callback_timeout", timers_s=[TIMEOUT_S], healthy=True),
    ],
    "the callback timer is callback_timeout_s": [
        _bundle("failed", "callback_timeout", timers_s=[2 * TIMEOUT_S]),
        _bundle("failed", "callback_timeout", timers_s=[]),
    ],
    "cancelled only on a cancel": [_bundle("cancelled", "cancel_requested")],
    "the notice is delivered": [
        _bundle("succeeded", channel="sms"),
        _bundle(
            "failed", "provider_declined", outcome="declined", message="Your payment p is failed"
        ),
        _untold(_bundle("succeeded")),
        _untold(_bundle("succeeded", refused=("email",))),  # the other channel was open
        _bundle("succeeded", channel="sms", refused=("sms",)),  # its own channel was open
    ],
}


@pytest.mark.parametrize("bundle", KEPT.values(), ids=KEPT.keys())
def test_an_allowed_outcome_keeps_every_rule(bundle: Bundle) -> None:
    assert _broken(bundle) == []


@pytest.mark.parametrize(
    ("rule", "bundle"),
    [(rule, b) for rule, bundles in BROKEN.items() for b in bundles],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_an_outcome_outside_the_rule_breaks_it_and_only_it(rule: str, bundle: Bundle) -> None:
    assert _broken(bundle) == [rule]


def test_every_rule_has_a_broken_case_and_a_mutant() -> None:
    from chaos.mutants.sagas import MUTANTS

    assert {r.name for r, _ in RULES} == set(BROKEN)
    assert all(r.mutant in MUTANTS for r, _ in RULES)


def test_terminated_and_deleted_payments_are_not_judged() -> None:
    bundle = _bundle("succeeded", outcome="declined")
    (payment,) = bundle.payments
    for cut in (
        msgspec.structs.replace(payment, terminated=True),
        msgspec.structs.replace(payment, deleted=True),
    ):
        assert outcomes(msgspec.structs.replace(bundle, payments=[cut])).checked == 0
