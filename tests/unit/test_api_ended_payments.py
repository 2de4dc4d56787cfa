"""How the API shows a payment whose execution closed without its saga deciding (issue 34,
item 8): it used to read ``pending`` or ``processing`` for ever."""

from __future__ import annotations

from orchestrator.api.service import ended_undecided
from orchestrator.models import PaymentState, PaymentStatus


def status(state: str, reason: str | None = None, step: str = "charge") -> PaymentStatus:
    return PaymentStatus("pay_1", "alice", 100, "USD", "card", state, step, reason=reason)


def test_an_undecided_payment_reads_failed_terminated_and_done() -> None:
    shown = ended_undecided(status("processing"))
    assert (shown.state, shown.reason, shown.step) == ("failed", "terminated", "done")
    assert PaymentState.ended_undecided("pending") is PaymentState.FAILED
    assert PaymentState.ended_undecided(None) is PaymentState.FAILED


def test_a_decision_the_saga_had_recorded_stands() -> None:
    shown = ended_undecided(status("succeeded", step="notify"))
    assert (shown.state, shown.reason, shown.step) == ("succeeded", None, "done")
    declined = ended_undecided(status("failed", "provider_declined", "notify"))
    assert (declined.state, declined.reason) == ("failed", "provider_declined")
