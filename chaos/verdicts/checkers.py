"""Checkers: pure functions of an evidence bundle, each valid or not with counterexamples.

Like Jepsen's checkers over a history, they read nothing but the bundle (``chaos.verdicts.bundle``),
so a journal can be checked again offline (``saga check JOURNAL``) and a checker can be tested with
hand-written bundles. Each returns a :class:`Check`; :func:`check_all` composes them. What each one
asserts is in its docstring and in the README ("What the checkers assert").
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from chaos.verdicts.bundle import (
    BENIGN_TASK_FAILURES,
    TERMINATE_TASK_FAILURES,
    Bundle,
    LedgerEntry,
    Payment,
)
from chaos.verdicts.findings import Check, Counterexample
from chaos.verdicts.oracle import outcomes
from orchestrator.workflows.payment import TEMPORAL_CANCEL
from runtime.invariants import money_problems, totals

REVIEW = "refund_requires_review"
IGNORED_EVENTS = ("callback_ignored", "callback_duplicate", "callback_mismatched")


def _check(name: str, checked: int, problems: Iterable[Counterexample]) -> Check:
    found = list(problems)
    return Check(name, not found, checked, found)


# -- money -------------------------------------------------------------------------------------


def accounts(bundle: Bundle) -> Check:
    """Per account: balance = opening - debits + refunds, recomputed from the journal in order,
    never negative on the way, and equal to the balance the ledger reports."""
    running: dict[str, int] = defaultdict(int)
    problems = []
    went_negative: set[str] = set()
    for entry in bundle.entries:
        sign = -1 if entry.kind == "debit" else 1
        running[entry.user_id] += sign * entry.amount
        if running[entry.user_id] < 0 and entry.user_id not in went_negative:
            went_negative.add(entry.user_id)
            problems.append(
                Counterexample(
                    entry.user_id,
                    "a balance never below 0",
                    f"{running[entry.user_id]} after the {entry.kind} of {entry.payment_id}",
                )
            )
    for user, balance in sorted(bundle.balances.items()):
        if running.get(user, 0) != balance:
            problems.append(
                Counterexample(
                    user, f"balance {running.get(user, 0)} from the journal", f"{balance}"
                )
            )
    return _check("accounts recompute from the journal", len(bundle.balances), problems)


def money_conserved(bundle: Bundle) -> Check:
    """Balances plus what the provider holds (authorized or captured) equal the opening total."""
    money = totals(bundle.entries, bundle.balances, bundle.charges)
    problems = []
    if not money.conserved:
        problems.append(
            Counterexample(
                "ledger + provider",
                f"opening {money.opening}",
                f"balances {money.balances} + held {money.held} = {money.balances + money.held}",
            )
        )
    return _check("money conserved", 1, problems)


def no_stray_entries(bundle: Bundle) -> Check:
    """Every debit or refund of the run's users belongs to one of the run's payments (a saga
    that debits under a key of its own making moves money no payment accounts for)."""
    users = {p.user_id for p in bundle.payments}
    ours = {p.payment_id for p in bundle.payments}
    problems = [
        Counterexample(
            e.user_id, "entries only for the run's payments", f"a {e.kind} for {e.payment_id}"
        )
        for e in bundle.entries
        if e.user_id in users and e.kind != "opening" and e.payment_id not in ours
    ]
    return _check("no ledger entries outside the payments", len(users), problems)


# -- per payment -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PaymentRow:
    """One row of the consistency table: a payment's final state against what took effect."""

    payment_id: str
    state: str
    reason: str | None
    debits: list[int]
    refunds: list[int]
    charge: str
    """The provider charge's status and amount (``authorized 500``), or ``none``."""
    notifications: list[str]
    """States named by the notifications the provider accepted for it."""
    reported: list[str]
    """Compensations the saga's status reports."""
    effected: list[str]
    """Compensations that took effect (ledger refund, voided charge, cancelled fraud child),
    the reconciler's repairs excluded."""
    problems: list[str]


def payment_rows(bundle: Bundle) -> list[PaymentRow]:
    """The consistency table, one row per payment."""
    entries: dict[tuple[str, str], list[LedgerEntry]] = defaultdict(list)
    for e in bundle.entries:
        entries[(e.payment_id, e.kind)].append(e)
    charges = defaultdict(list)
    for c in bundle.charges:
        charges[c["payment_id"]].append(c)
    notes = defaultdict(list)
    for n in bundle.notifications:
        notes[n["payment_id"]].append(n)
    repairs = {(r.payment_id, r.kind) for r in bundle.repairs}
    return [
        _row(p, entries, charges[p.payment_id], notes[p.payment_id], repairs)
        for p in bundle.payments
    ]


def _row(
    payment: Payment,
    entries: dict[tuple[str, str], list[LedgerEntry]],
    charges: list[dict[str, object]],
    notes: list[dict[str, object]],
    repairs: set[tuple[str, str]],
) -> PaymentRow:
    pid, amount = payment.payment_id, payment.amount
    state = settled_state(payment)
    reason = None if payment.terminated else payment.api.get("reason")
    debits = [e.amount for e in entries[(pid, "debit")]]
    refunds = [e.amount for e in entries[(pid, "refund")]]
    problems = []
    if len(charges) > 1:
        problems.append(f"{len(charges)} provider charges")
    charge = charges[0] if charges else None
    status = str(charge["status"]) if charge else "none"
    if payment.terminated and status == "captured":
        # The reconciler lists a captured charge for review and keeps its debit, as the saga
        # would have (a refund as well would create money).
        reason = REVIEW
    if charge and charge["amount"] != amount:
        problems.append(f"charge of {charge['amount']} for a payment of {amount}")
    if any(d != amount for d in debits + refunds):
        problems.append(f"ledger amounts {debits + refunds} for a payment of {amount}")
    review = state != "succeeded" and reason == REVIEW
    problems += money_problems(state, len(debits), len(refunds), status, review=review)
    named = [_named_state(n) for n in notes]
    if not payment.terminated:
        problems += _notification_problems(payment, state, notes, named)
    reported = [str(c) for c in payment.api.get("compensations", [])]
    effected = _effected(payment, status, bool(refunds), repairs)
    if payment.deleted:  # the fraud child's close is read through the execution, gone now
        reported = [c for c in reported if c != "fraud_check_cancelled"]
    if not payment.terminated and sorted(reported) != sorted(effected):
        problems.append(f"reports compensations {reported}, took effect {effected}")
    return PaymentRow(
        pid,
        state,
        str(reason) if reason else None,
        debits,
        refunds,
        f"{status} {charge['amount']}" if charge else "none",
        named,
        reported,
        effected,
        problems,
    )


def settled_state(payment: Payment) -> str:
    """The state a payment's money must match. A terminated payment is settled like a failed
    one, unless its saga had already recorded ``succeeded`` (the ``PaymentStatus`` search
    attribute is set before the notice is sent): the API answers ``succeeded`` and the user may
    have been told so, so its money must stay where a success leaves it."""
    if not payment.terminated:
        return str(payment.api.get("state", "unknown"))
    recorded = payment.execution.search_status if payment.execution else None
    return "succeeded" if recorded == "succeeded" else "failed"


def _named_state(note: dict[str, object]) -> str:
    # The message is "Your payment <id> is <state>[ (<reason>)]".
    words = str(note.get("message", "")).split(" is ", 1)
    return words[1].split(" ", 1)[0] if len(words) == 2 else "?"


def _notification_problems(
    payment: Payment, state: str, notes: list[dict[str, object]], named: list[str]
) -> list[str]:
    reported = str(payment.api.get("notification") or "")
    if len(notes) > 1:
        return [f"{len(notes)} notifications"]
    if reported.startswith("sent:"):
        ids = [n.get("notification_id") for n in notes]
        if ids != [reported.removeprefix("sent:")]:
            return [f"status says {reported} but the provider holds {ids or 'none'}"]
        if named != [state]:
            return [f"notified {named[0]} for a payment {state}"]
        return []
    if reported.startswith("failed:"):
        return [] if not named or named == [state] else [f"notified {named[0]} for {state}"]
    return ["no notification attempted"]


def _effected(
    payment: Payment, charge_status: str, refunded: bool, repairs: set[tuple[str, str]]
) -> list[str]:
    pid = payment.payment_id
    effected = []
    if refunded and (pid, "refund") not in repairs:
        effected.append("refund")
    if charge_status == "voided" and (pid, "void") not in repairs:
        effected.append("void")
    if payment.execution and payment.execution.fraud_child == "CANCELED":
        effected.append("fraud_check_cancelled")
    return effected


def payments(bundle: Bundle) -> Check:
    """Per payment, its final state against its own ledger entries (succeeded: one debit of the
    requested amount and no refund; otherwise none, or a debit and a refund of that amount; in
    review: the debit and a captured charge), its provider charge (succeeded: authorized or
    captured for the amount; otherwise none, declined or voided), exactly one notification
    naming that state, and the compensations its status reports equal to those that took
    effect. A payment a workflow fault terminated must have been settled like a failed one,
    or like a succeeded one if its saga had recorded ``succeeded`` (:func:`settled_state`)."""
    rows = payment_rows(bundle)
    problems = [
        Counterexample(
            r.payment_id, "consistent state, money and notification", "; ".join(r.problems)
        )
        for r in rows
        if r.problems
    ]
    return _check("payments consistent (ledger, charge, notification)", len(rows), problems)


# -- Temporal ----------------------------------------------------------------------------------


def executions(bundle: Bundle) -> Check:
    """Every execution closed COMPLETED (TERMINATED where a workflow fault terminated it, none
    where one deleted it and the retry of its key must have started none), its
    ``PaymentStatus`` search attribute equal to the state the API reports, and no workflow task
    failed for a reason of the saga's own (non-determinism, an unhandled error)."""
    problems = []
    for p in bundle.payments:
        ex = p.execution
        if p.deleted:
            if ex is not None:  # the retry of its key started a second saga under its id
                problems.append(
                    Counterexample(p.payment_id, "no execution (deleted)", f"one, {ex.status}")
                )
            continue
        if ex is None:
            problems.append(Counterexample(p.payment_id, "an execution", "none in Temporal"))
            continue
        closed = "TERMINATED" if p.terminated else "COMPLETED"
        if ex.status != closed:
            problems.append(Counterexample(p.payment_id, f"closed {closed}", ex.status))
        state = p.api.get("state")
        if not p.terminated and ex.search_status != state:
            problems.append(
                Counterexample(p.payment_id, f"search attribute {state}", str(ex.search_status))
            )
        benign = BENIGN_TASK_FAILURES | (TERMINATE_TASK_FAILURES if p.terminated else frozenset())
        bad = [c for c in ex.task_failures if c not in benign]
        if bad:
            problems.append(Counterexample(p.payment_id, "no failed workflow task", ", ".join(bad)))
    return _check("executions closed, search attribute final", len(bundle.payments), problems)


def callbacks(bundle: Bundle) -> Check:
    """From each history's signals: a redelivered callback (an event id seen before) shows on
    the timeline as a duplicate; every callback after the decision as ignored; and a decision
    taken on a callback rests on one for the payment's own charge."""
    problems = []
    for p in bundle.payments:
        if p.execution is None or p.terminated:
            continue
        events = Counter(str(e.get("event")) for e in p.api.get("timeline", []))
        signals = p.execution.callbacks
        seen: set[str] = set()
        duplicates = 0
        for s in signals:
            duplicates += s.event_id in seen
            seen.add(s.event_id)
        if duplicates != events["callback_duplicate"]:
            problems.append(
                Counterexample(
                    p.payment_id,
                    f"{duplicates} duplicate callback(s) recognised",
                    f"{events['callback_duplicate']}",
                )
            )
        late = sum(s.after_decision for s in signals)
        ignored = sum(events[e] for e in IGNORED_EVENTS)
        if late > ignored:
            problems.append(
                Counterexample(
                    p.payment_id, f"{late} callback(s) after the decision ignored", f"{ignored}"
                )
            )
        if events["callback_received"] > 1:
            problems.append(
                Counterexample(
                    p.payment_id, "at most 1 callback acted on", str(events["callback_received"])
                )
            )
        own = p.api.get("charge_id")
        decided_on = "succeeded" if p.api.get("state") == "succeeded" else None
        if p.api.get("reason") == "provider_declined" and own:
            decided_on = "declined"
        if decided_on and not any(
            s.charge_id == own and s.status == decided_on and not s.after_decision for s in signals
        ):
            problems.append(
                Counterexample(
                    p.payment_id,
                    f"a {decided_on} callback for its charge {own} before the decision",
                    ", ".join(f"{s.charge_id} {s.status}" for s in signals) or "no callback",
                )
            )
    return _check("callbacks (duplicates, late, foreign)", len(bundle.payments), problems)


def cancels(bundle: Bundle) -> Check:
    """Every cancel shows on the payment's timeline: each Temporal cancel request in the history
    as ``temporal_cancel`` (acted on before the decision, or noted after it), and a ``cancel``
    signal that arrived before the decision as ``cancel_requested``. A saga that swallows one (a
    step abandoned in flight that then reads as a failure, a dropped signal) fails."""
    problems = []
    for p in bundle.payments:
        if p.execution is None or p.terminated or not p.api:
            continue
        events = Counter(str(e.get("event")) for e in p.api.get("timeline", []))
        if events[TEMPORAL_CANCEL] != p.execution.cancel_requests:
            problems.append(
                Counterexample(
                    p.payment_id,
                    f"{p.execution.cancel_requests} Temporal cancel(s) on the timeline",
                    f"{events[TEMPORAL_CANCEL]}",
                )
            )
        if p.execution.cancel_signals and not events["cancel_requested"]:
            problems.append(
                Counterexample(
                    p.payment_id,
                    f"{p.execution.cancel_signals} cancel signal(s) before the decision acted on",
                    "no cancel_requested on the timeline",
                )
            )
    return _check("cancels acknowledged", len(bundle.payments), problems)


def velocity(bundle: Bundle) -> Check:
    """No user has more debits among the run's payments than the limit in any window, by true
    time where the evidence has it (a ledger that stamped by a skewed clock cannot hide them)."""
    limit, window = bundle.velocity_max_payments, bundle.velocity_window_s
    most = max_debits_in_window(bundle)
    problems = [
        Counterexample(user, f"<= {limit} debits in {window:g}s", str(count))
        for user, count in sorted(most.items())
        if count > limit
    ]
    return _check("velocity limit held", len(most), problems)


def max_debits_in_window(bundle: Bundle) -> dict[str, int]:
    """Per user, the most debits among the run's payments that surely committed within one
    velocity window. Each debit's commit is known to lie in an interval: its payment's
    ``debit_between`` (true time), else the ledger's stamp alone. Debits whose intervals all lie
    within less than a window of each other committed within one, wherever in them they fell."""
    between = {p.payment_id: p.debit_between for p in bundle.payments if len(p.debit_between) == 2}
    ours = {p.payment_id for p in bundle.payments}
    spans: dict[str, list[tuple[datetime, datetime]]] = defaultdict(list)
    for e in bundle.entries:
        if e.kind == "debit" and e.payment_id in ours:
            first, last = between.get(e.payment_id, [e.created_at, e.created_at])
            spans[e.user_id].append((datetime.fromisoformat(first), datetime.fromisoformat(last)))
    most = {}
    for user, found in spans.items():
        most[user] = max(
            sum(
                begin >= start and (end - start).total_seconds() < bundle.velocity_window_s
                for begin, end in found
            )
            for start, _ in found
        )
    return most


CHECKERS: tuple[Callable[[Bundle], Check], ...] = (
    money_conserved,
    accounts,
    no_stray_entries,
    payments,
    executions,
    callbacks,
    cancels,
    velocity,
    outcomes,
)


def check_all(bundle: Bundle) -> list[Check]:
    """Every checker over one bundle, in a stable order."""
    return [checker(bundle) for checker in CHECKERS]
