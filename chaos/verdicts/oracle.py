"""The reference model: which outcomes a payment may have, given what it met.

The checkers in :mod:`chaos.verdicts.checkers` ask whether the money is *consistent*; a saga that is
wrong consistently (it lets a fraud error through, takes another charge's callback, refuses a
healthy payment, never delivers its notice) passes them. This module asks whether the outcome
was *right*. Each rule is a small pure function of one payment's evidence, read from outside the
saga's reasoning: the ledger's journal (balances, other debits), the provider's own record of
the charge, the notification service's outbox, and Temporal's history (the callbacks delivered,
the timers started, the fraud child's own verdict, the cancel signals). What is judged is the
outcome the payment reports (state and reason, through the API or its query).

Every rule is in :data:`RULES` with the mutant that proves it can fail
(``chaos.mutants.sagas``; ``docs/verdicts.md`` has the table). A payment outside the
allowed set is a counterexample naming the rule and the reasoning. Terminated payments (their
saga never decided) and payments with no execution left (deleted) are judged elsewhere.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from chaos.verdicts.bundle import Bundle, Payment, refused_channels
from chaos.verdicts.findings import Check, Counterexample

OUTCOMES = "outcomes allowed by the reference model"
SUCCEEDED = "succeeded"
#: Refusals the ledger makes from what it holds: each must be possible given the journal.
FUNDS, VELOCITY = "insufficient_funds", "velocity_limit"
#: What the ledger refuses from what it holds (validation, funds, velocity): the system doing its
#: job, even for a payment that met no fault.
LEDGER_REFUSALS = frozenset(
    {
        "account_not_found",
        "account_inactive",
        "unsupported_method",
        "invalid_amount",
        "amount_over_limit",
        "currency_mismatch",
        FUNDS,
        VELOCITY,
    }
)
#: The timer must be the configured one: a timer within this of it counts.
TIMER_SLACK_S = 0.001


@dataclass(frozen=True)
class Rule:
    """One outcome rule: its name, what it says, and the mutant that breaks it."""

    name: str
    says: str
    mutant: str


@dataclass
class Facts:
    """What one payment met, from outside the saga (built by :func:`facts_of`)."""

    payment: Payment
    state: str
    reason: str | None
    charge: dict[str, Any] | None
    """The provider's own record of the payment's charge, if it holds one."""
    notices: list[dict[str, Any]]
    """What the notification service delivered for it."""
    refused_channels: set[str]
    """The channels the notification service refused for it (its own record)."""
    opening: int | None
    """The user's opening balance (the journal's ``opening`` entry)."""
    others_debited: int
    """What the ledger debited for the user's other payments (refunded or not)."""
    others_debits: int
    """How many debits the ledger made for the user's other payments."""
    velocity_max_payments: int
    callback_timeout_s: float | None


def _own_charge(f: Facts) -> str | None:
    outcome = "none" if f.charge is None else str(f.charge.get("outcome"))
    if f.state == SUCCEEDED and outcome != SUCCEEDED:
        return f"succeeded, but the provider's own charge for it is {outcome}"
    if f.reason == "provider_declined" and outcome != "declined":
        return f"failed provider_declined, but the provider's own charge for it is {outcome}"
    return None


def _fraud_closed(f: Facts) -> str | None:
    ex = f.payment.execution
    assert ex is not None
    if f.state == SUCCEEDED and not (ex.fraud_child == "COMPLETED" and ex.fraud_passed is True):
        return (
            f"succeeded, but its fraud check closed {ex.fraud_child or 'never started'}"
            f" with verdict {_verdict(ex.fraud_passed)}"
        )
    if f.reason == "fraud_rejected" and ex.fraud_passed is not False:
        verdict = _verdict(ex.fraud_passed)
        return f"failed fraud_rejected, but the fraud check's own verdict is {verdict}"
    if f.reason == "fraud_check_failed" and ex.fraud_passed is not None:
        return (
            f"failed fraud_check_failed, but the fraud check completed: {_verdict(ex.fraud_passed)}"
        )
    return None


def _verdict(passed: bool | None) -> str:
    return "none" if passed is None else ("pass" if passed else "reject")


def _refusal_possible(f: Facts) -> str | None:
    if f.reason == FUNDS and f.opening is not None:
        least = f.opening - f.others_debited
        if least >= f.payment.amount:
            return (
                f"failed {FUNDS}, but its user opened with {f.opening} and the ledger debited"
                f" {f.others_debited} for their other payments: at least {least} was always"
                f" there for {f.payment.amount}"
            )
    if f.reason == VELOCITY and f.others_debits < f.velocity_max_payments:
        return (
            f"failed {VELOCITY}, but the ledger holds {f.others_debits} debit(s) of its user's"
            f" other payments, under the limit of {f.velocity_max_payments}"
        )
    return None


def _healthy_succeeds(f: Facts) -> str | None:
    if not f.payment.healthy or f.state == SUCCEEDED or f.reason in LEDGER_REFUSALS:
        return None  # a ledger refusal's cause is judged by "refusals have a cause"
    ex = f.payment.execution
    assert ex is not None
    if f.reason == "fraud_rejected" and ex.fraud_passed is False:
        return None  # the fraud service's own rejection ("fraud fails closed" checks it)
    return (
        f"met no fault (no fault, cancel or outage in its run), yet ended {f.state}"
        f" {f.reason or ''}: only the ledger or the fraud service may refuse it".replace(" :", ":")
    )


def _callback_timer(f: Facts) -> str | None:
    if f.reason != "callback_timeout" or f.callback_timeout_s is None:
        return None
    ex = f.payment.execution
    assert ex is not None
    if not any(abs(t - f.callback_timeout_s) <= TIMER_SLACK_S for t in ex.timers_s):
        return (
            f"failed callback_timeout, but no timer of callback_timeout_s"
            f" ({f.callback_timeout_s:g} s) was started: timers {ex.timers_s}"
        )
    return None


def _cancelled_on_a_cancel(f: Facts) -> str | None:
    ex = f.payment.execution
    assert ex is not None
    if f.state == "cancelled" and not (ex.cancel_signals or ex.cancel_requests):
        return "cancelled, but no cancel signal or Temporal cancel reached it before its decision"
    return None


def _notice_delivered(f: Facts) -> str | None:
    preferred = "email" if f.state == SUCCEEDED else "sms"
    other = "sms" if preferred == "email" else "email"
    # The other channel is right once the service refused the preferred one for this payment;
    # with both refused, no notice can be delivered.
    channels = {preferred} | ({other} if preferred in f.refused_channels else set())
    if channels <= f.refused_channels:
        return None
    by = " or ".join(sorted(channels))
    expected = f"Your payment {f.payment.payment_id} is {f.state}"
    if f.reason:
        expected += f" ({f.reason})"
    if not f.notices:
        refused = f" ({preferred} refused)" if preferred in f.refused_channels else ""
        return f"{f.state}, but the notification service delivered nothing for it{refused}"
    wrong = [
        n for n in f.notices if n.get("channel") not in channels or n.get("message") != expected
    ]
    if wrong:
        n = wrong[0]
        return (
            f"{f.state}: its notice must say {expected!r} by {by}; the service delivered"
            f" {n.get('message')!r} by {n.get('channel')}"
        )
    return None


Judge = Callable[[Facts], str | None]

#: Every rule, with its judge; docs/verdicts.md lists them with their mutants.
RULES: tuple[tuple[Rule, Judge], ...] = (
    (
        Rule(
            "own charge decides",
            "a payment succeeds only if the provider's own charge for it succeeded, and fails"
            " provider_declined only if that charge was declined: a callback for another charge"
            " never decides",
            "accept-foreign-success",
        ),
        _own_charge,
    ),
    (
        Rule(
            "fraud fails closed",
            "a payment succeeds only if its fraud check completed with a pass; fraud_rejected"
            " needs the check's own rejection, fraud_check_failed a check that did not complete",
            "fraud-fail-open",
        ),
        _fraud_closed,
    ),
    (
        Rule(
            "refusals have a cause",
            "insufficient_funds only if the journal allows a moment with less than the amount"
            " (opening minus the user's other debits); velocity_limit only if the user's other"
            " debits reach the limit",
            "velocity-off-by-one",
        ),
        _refusal_possible,
    ),
    (
        Rule(
            "a healthy payment succeeds",
            "a payment that met no fault (no fault, cancel or outage, every service answering)"
            " succeeds, unless the ledger refuses it (validation, funds, velocity: each with its"
            " cause) or the fraud service rejects it",
            "refuse-wallets",
        ),
        _healthy_succeeds,
    ),
    (
        Rule(
            "the callback timer is callback_timeout_s",
            "callback_timeout only after a timer of exactly callback_timeout_s",
            "slow-callback-timer",
        ),
        _callback_timer,
    ),
    (
        Rule(
            "cancelled only on a cancel",
            "a payment ends cancelled only if a cancel signal or a Temporal cancel reached its"
            " execution (that a cancel is acted on is the cancels checker's)",
            "timeout-read-as-cancel",
        ),
        _cancelled_on_a_cancel,
    ),
    (
        Rule(
            "the notice is delivered",
            "the notification service delivered a notice for every decided payment, by email"
            " for a success and sms otherwise (the other channel once the service refused that"
            " one; nothing is owed when it refused both), naming its state and reason",
            "drop-delayed-notice",
        ),
        _notice_delivered,
    ),
)


def facts_of(bundle: Bundle) -> Iterator[Facts]:
    """Each judged payment's facts (decided by its saga, its execution still known)."""
    charges = {str(c["payment_id"]): c for c in bundle.charges}
    notices: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for n in bundle.notifications:
        notices[str(n["payment_id"])].append(n)
    refused = refused_channels(bundle)
    opening: dict[str, int] = {}
    debited: dict[str, dict[str, int]] = defaultdict(dict)
    for e in bundle.entries:
        if e.kind == "opening":
            opening[e.user_id] = e.amount
        elif e.kind == "debit":
            debited[e.user_id][e.payment_id] = e.amount
    for p in bundle.payments:
        if p.terminated or p.deleted or p.execution is None or not p.api:
            continue
        state = str(p.api.get("state"))
        if state not in (SUCCEEDED, "failed", "cancelled"):
            continue  # not terminal: the consistency checker says so
        others = {k: v for k, v in debited[p.user_id].items() if k != p.payment_id}
        reason = p.api.get("reason")
        yield Facts(
            p,
            state,
            str(reason) if reason else None,
            charges.get(p.payment_id),
            notices[p.payment_id],
            refused.get(p.payment_id, set()),
            opening.get(p.user_id),
            sum(others.values()),
            len(others),
            bundle.velocity_max_payments,
            bundle.callback_timeout_s,
        )


def outcomes(bundle: Bundle) -> Check:
    """Every decided payment's outcome against every rule of the reference model."""
    problems = []
    judged = 0
    for f in facts_of(bundle):
        judged += 1
        for rule, judge in RULES:
            found = judge(f)
            if found is not None:
                problems.append(Counterexample(f.payment.payment_id, rule.name, found))
    return Check(OUTCOMES, not problems, judged, problems)
