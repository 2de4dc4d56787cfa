"""The reconciler's plan: a pure function of ledger debits, provider charges and executions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from orchestrator.models import ExecutionFacts, LedgerDebit, ProviderCharge
from orchestrator.workflows.reconcile import (
    late_charges,
    plan_repairs,
    settled_payments,
    settling,
    watching,
)

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
EARLIER = (NOW - timedelta(minutes=5)).isoformat()


def debit(payment_id: str) -> LedgerDebit:
    return LedgerDebit(payment_id, "alice", 100, EARLIER)


def charge(payment_id: str, status: str) -> ProviderCharge:
    return ProviderCharge(payment_id, f"ch_{payment_id}", 100, status)


def plan(
    debits: list[LedgerDebit], charges: list[ProviderCharge], *facts: ExecutionFacts
) -> tuple[list[tuple[str, str]], list[str]]:
    repairs, review = plan_repairs(
        debits, charges, {f.payment_id: f for f in facts}, NOW, timedelta(0)
    )
    return [(r.kind, r.payment_id) for r in repairs], review


def test_a_terminated_payment_is_refunded_and_its_live_charge_voided() -> None:
    repairs, review = plan(
        [debit("t")], [charge("t", "authorized")], ExecutionFacts("t", "TERMINATED", "processing")
    )
    assert repairs == [("refund", "t"), ("void", "t")] and review == []


def test_running_and_succeeded_payments_are_left_alone() -> None:
    repairs, review = plan(
        [debit("r"), debit("s")],
        [charge("r", "authorized"), charge("s", "captured")],
        ExecutionFacts("r", "RUNNING", "processing"),
        ExecutionFacts("s", "COMPLETED", "succeeded"),
    )
    assert (repairs, review) == ([], [])


def test_a_payment_recorded_succeeded_keeps_its_money_however_its_execution_closed() -> None:
    # Terminated or cancelled at notify: the saga had already set PaymentStatus=succeeded.
    repairs, review = plan(
        [debit("n"), debit("x")],
        [charge("n", "authorized"), charge("x", "captured")],
        ExecutionFacts("n", "TERMINATED", "succeeded"),
        ExecutionFacts("x", "CANCELED", "succeeded"),
    )
    assert (repairs, review) == ([], [])


def test_before_the_keep_succeeded_patch_a_terminated_success_was_reversed() -> None:
    facts = {"n": ExecutionFacts("n", "TERMINATED", "succeeded")}
    repairs, _ = plan_repairs(
        [debit("n")], [charge("n", "authorized")], facts, NOW, timedelta(0), keep_succeeded=False
    )
    assert [(r.kind, r.payment_id) for r in repairs] == [("refund", "n"), ("void", "n")]


def test_a_failed_saga_that_left_money_behind_is_repaired() -> None:
    repairs, _ = plan(
        [debit("f")], [charge("f", "authorized")], ExecutionFacts("f", "COMPLETED", "failed")
    )
    assert repairs == [("refund", "f"), ("void", "f")]


def test_a_captured_charge_is_for_review_and_its_debit_stays() -> None:
    repairs, review = plan(
        [debit("c")], [charge("c", "captured")], ExecutionFacts("c", "TIMED_OUT", "processing")
    )
    assert (repairs, review) == ([], ["c"])


def test_an_unknown_execution_is_never_repaired() -> None:
    repairs, _ = plan([debit("u")], [], ExecutionFacts("u", "NOT_FOUND", None))
    assert repairs == []


def test_young_debits_wait_out_the_grace_period() -> None:
    young = LedgerDebit("y", "alice", 100, NOW.isoformat())
    facts = {"y": ExecutionFacts("y", "TERMINATED", "processing")}
    repairs, _ = plan_repairs([young], [], facts, NOW, timedelta(seconds=30))
    assert repairs == []


def test_a_payment_closed_moments_ago_waits_for_its_activities_in_flight() -> None:
    # Terminated 5 s ago with its charge in flight: a refund now, then the charge landing and
    # being captured, would give the money back twice.
    just = ExecutionFacts("j", "TERMINATED", "processing", (NOW - timedelta(seconds=5)).isoformat())
    settled = ExecutionFacts("s", "TERMINATED", "processing", EARLIER)
    repairs, _ = plan_repairs(
        [debit("j"), debit("s")],
        [],
        {"j": just, "s": settled},
        NOW,
        timedelta(0),
        timedelta(seconds=60),
    )
    assert [(r.kind, r.payment_id) for r in repairs] == [("refund", "s")]


def test_a_payment_closed_moments_ago_is_reported_settling() -> None:
    just = ExecutionFacts("j", "TERMINATED", "processing", (NOW - timedelta(seconds=5)).isoformat())
    done = ExecutionFacts("d", "COMPLETED", "succeeded", (NOW - timedelta(seconds=5)).isoformat())
    old = ExecutionFacts("o", "TERMINATED", "processing", EARLIER)
    facts = {f.payment_id: f for f in (just, done, old)}
    assert settling(facts, NOW, timedelta(seconds=20)) == ["j"]


SETTLE = timedelta(seconds=20)
LONG_AGO = (NOW - timedelta(minutes=1)).isoformat()


def closed(payment_id: str, status: str, state: str | None, at: str = LONG_AGO) -> ExecutionFacts:
    return ExecutionFacts(payment_id, status, state, at)


def settled(
    debits: list[LedgerDebit],
    charges: list[ProviderCharge],
    *facts: ExecutionFacts,
    grace: timedelta = timedelta(0),
) -> list[str]:
    executions = {f.payment_id: f for f in facts}
    unrefunded = [d for d in debits if not d.refunded]
    planned, review = plan_repairs(unrefunded, charges, executions, NOW, grace, SETTLE)
    return settled_payments(debits, executions, planned, review, NOW, grace, SETTLE)


def test_a_payment_whose_money_stays_put_is_settled() -> None:
    refunded = LedgerDebit("f", "alice", 100, EARLIER, refunded=True)
    assert settled(
        [debit("s"), refunded],
        [charge("s", "authorized"), charge("f", "voided")],
        closed("s", "COMPLETED", "succeeded"),
        closed("f", "COMPLETED", "failed"),
    ) == ["f", "s"]


def test_a_payment_with_a_repair_or_a_review_due_is_not_settled() -> None:
    live = LedgerDebit("v", "alice", 100, EARLIER, refunded=True)
    assert (
        settled(
            [debit("t"), live, debit("c")],
            [charge("v", "authorized"), charge("c", "captured")],
            closed("t", "TERMINATED", "processing"),
            closed("v", "COMPLETED", "cancelled"),
            closed("c", "TIMED_OUT", "processing"),
        )
        == []
    )


def test_running_unknown_and_recently_closed_payments_are_not_settled() -> None:
    recent = (NOW - timedelta(seconds=5)).isoformat()
    assert (
        settled(
            [debit("r"), debit("n"), debit("u"), debit("x")],
            [],
            ExecutionFacts("r", "RUNNING", "processing"),
            ExecutionFacts("n", "NOT_FOUND", None),
            ExecutionFacts("u", "UNKNOWN", None, LONG_AGO),
            closed("x", "COMPLETED", "succeeded", at=recent),
        )
        == []
    )


def test_a_debit_younger_than_the_grace_is_not_settled() -> None:
    """Its refund was not planned (too young): settling it would drop that refund for good."""
    young = LedgerDebit("y", "alice", 100, (NOW - timedelta(seconds=30)).isoformat())
    assert settled([young], [], closed("y", "TERMINATED", None), grace=timedelta(minutes=1)) == []
    assert settled([young], [], closed("y", "TERMINATED", None)) == []  # a refund is due now


def test_a_capture_after_the_debit_was_refunded_is_refunded_at_the_provider() -> None:
    """Item 7: a charge that landed after its saga gave up (the debit given back) and was
    captured. Kept as it was, the user has the money twice; before ``late-charges`` it went
    to review. A capture whose debit is kept still goes to review."""
    facts = {
        "late": ExecutionFacts("late", "COMPLETED", "cancelled", EARLIER),
        "kept": ExecutionFacts("kept", "TERMINATED", "processing", EARLIER),
    }
    charges = [charge("late", "captured"), charge("kept", "captured")]
    repairs, review = plan_repairs(
        [debit("kept")], charges, facts, NOW, timedelta(0), refund_captures=True
    )
    assert [(r.kind, r.payment_id) for r in repairs] == [("refund_charge", "late")]
    assert review == ["kept"]
    before, review_before = plan_repairs([debit("kept")], charges, facts, NOW, timedelta(0))
    assert before == [] and sorted(review_before) == ["kept", "late"]


def test_a_charge_held_after_its_saga_completed_without_success_is_late() -> None:
    facts = {
        "late": ExecutionFacts("late", "COMPLETED", "failed", EARLIER),
        "paid": ExecutionFacts("paid", "COMPLETED", "succeeded", EARLIER),
        "cut": ExecutionFacts("cut", "TERMINATED", "processing", EARLIER),
        "gone": ExecutionFacts("gone", "COMPLETED", "failed", EARLIER),
    }
    charges = [
        charge("late", "authorized"),
        charge("paid", "captured"),
        charge("cut", "authorized"),  # the saga never got to void it: not late
        charge("gone", "voided"),
    ]
    assert late_charges(charges, facts) == ["late"]


def test_a_failed_payment_the_provider_never_showed_is_watched_for_the_horizon() -> None:
    horizon = timedelta(minutes=10)
    recent = (NOW - timedelta(minutes=2)).isoformat()
    old = (NOW - timedelta(minutes=11)).isoformat()
    facts = {
        "recent": ExecutionFacts("recent", "COMPLETED", "cancelled", recent),
        "old": ExecutionFacts("old", "COMPLETED", "cancelled", old),
        "shown": ExecutionFacts("shown", "COMPLETED", "failed", recent),
        "paid": ExecutionFacts("paid", "COMPLETED", "succeeded", recent),
        "running": ExecutionFacts("running", "RUNNING", "processing"),
    }
    assert watching([charge("shown", "voided")], facts, NOW, horizon) == ["recent"]
