"""The checkers are pure functions of a bundle: a consistent bundle passes every one, and each
deliberate inconsistency makes the right checker fail and name the payment or account."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from chaos.scenario.format import parse_scenario
from chaos.verdicts.bundle import Bundle, Callback, Execution, LedgerEntry, Payment
from chaos.verdicts.checkers import check_all
from chaos.verdicts.evidence import Evidence
from chaos.verdicts.expect import Verdict, evaluate
from runtime.cli import main as saga

AT = "2026-11-26T10:00:0{}+00:00"


def _execution(
    callbacks: list[Callback] | None = None, fraud: str = "COMPLETED", status: str = "COMPLETED"
) -> Execution:
    passed = True if fraud == "COMPLETED" else None  # the fraud child's own verdict
    return Execution(status, None, [], callbacks or [], fraud, fraud_passed=passed)


def _payment(
    pid: str,
    state: str,
    *,
    reason: str | None = None,
    compensations: tuple[str, ...] = (),
    timeline: tuple[str, ...] = (),
    callbacks: list[Callback] | None = None,
    fraud: str = "COMPLETED",
) -> Payment:
    api = {
        "state": state,
        "reason": reason,
        "compensations": list(compensations),
        "notification": f"sent:n-{pid}",
        "charge_id": f"ch-{pid}",
        "timeline": [{"event": e} for e in timeline],
    }
    execution = _execution(callbacks, fraud)
    execution = msgspec.structs.replace(execution, search_status=state)
    return Payment(pid, "alice", 100, False, api, execution)


def consistent() -> Bundle:
    """alice opens with 1000 and keeps 900: ok succeeded, void was cancelled and voided, early
    failed before its debit, late timed out and then got its callback, ignored."""
    entries = [
        LedgerEntry("", "alice", "opening", 1000, AT.format(0)),
        LedgerEntry("ok", "alice", "debit", 100, AT.format(1)),
        LedgerEntry("void", "alice", "debit", 100, AT.format(2)),
        LedgerEntry("void", "alice", "refund", 100, AT.format(3)),
        LedgerEntry("late", "alice", "debit", 100, AT.format(4)),
        LedgerEntry("late", "alice", "refund", 100, AT.format(5)),
    ]
    charges = [
        {"payment_id": p, "amount": 100, "status": s, "outcome": "succeeded"}
        for p, s in (("ok", "authorized"), ("void", "voided"), ("late", "voided"))
    ]
    notifications = [
        {
            "notification_id": f"n-{pid}",
            "payment_id": pid,
            "channel": "email" if pid == "ok" else "sms",
            "message": f"Your payment {pid} is {said}",
        }
        for pid, said in (
            ("ok", "succeeded"),
            ("void", "cancelled (cancel_requested)"),
            ("early", "failed (velocity_limit)"),
            ("late", "failed (callback_timeout)"),
        )
    ]
    own = Callback("evt-ok", "ch-ok", "succeeded", after_decision=False)
    payments = [
        _payment("ok", "succeeded", callbacks=[own, own], timeline=("callback_duplicate",)),
        _payment(
            "void",
            "cancelled",
            reason="cancel_requested",
            compensations=("void", "refund", "fraud_check_cancelled"),
            fraud="CANCELED",
            timeline=("cancel_requested",),
        ),
        _payment("early", "failed", reason="velocity_limit", fraud=""),
        _payment(
            "late",
            "failed",
            reason="callback_timeout",
            compensations=("void", "refund"),
            callbacks=[Callback("evt-late", "ch-late", "succeeded", after_decision=True)],
            timeline=("callback_ignored",),
        ),
    ]
    payments[2] = msgspec.structs.replace(
        payments[2], execution=msgspec.structs.replace(payments[2].execution, fraud_child=None)
    )
    payments[1] = msgspec.structs.replace(  # the user's cancel, before the decision
        payments[1], execution=msgspec.structs.replace(payments[1].execution, cancel_signals=1)
    )
    return Bundle(entries, {"alice": 900}, [], charges, notifications, payments, 60.0, 3)


def _invalid(bundle: Bundle) -> dict[str, str]:
    return {c.name: c.summary() for c in check_all(bundle) if not c.valid}


def test_a_consistent_bundle_passes_every_checker() -> None:
    assert _invalid(consistent()) == {}


def _swap_void(b: Bundle) -> Bundle:
    charges = [dict(c) for c in b.charges]
    charges[0]["status"], charges[1]["status"] = "voided", "authorized"
    return msgspec.structs.replace(b, charges=charges)


def _drop_refund(b: Bundle) -> Bundle:
    entries = [e for e in b.entries if not (e.payment_id == "void" and e.kind == "refund")]
    return msgspec.structs.replace(b, entries=entries, balances={"alice": 800})


def _wrong_amount(b: Bundle) -> Bundle:
    entries = list(b.entries)
    entries[1] = msgspec.structs.replace(entries[1], amount=101)
    return msgspec.structs.replace(b, entries=entries, balances={"alice": 899})


def _stray_debit(b: Bundle) -> Bundle:
    extra = LedgerEntry("ok:again", "alice", "debit", 100, AT.format(6))
    return msgspec.structs.replace(b, entries=[*b.entries, extra], balances={"alice": 800})


def _balance_off(b: Bundle) -> Bundle:
    return msgspec.structs.replace(b, balances={"alice": 950})


def _no_notification(b: Bundle) -> Bundle:
    return msgspec.structs.replace(b, notifications=b.notifications[1:])


def _wrong_notification(b: Bundle) -> Bundle:
    notes = [dict(n) for n in b.notifications]
    notes[0]["message"] = "Your payment ok is failed"
    return msgspec.structs.replace(b, notifications=notes)


def _with_api(b: Bundle, i: int, **changes: Any) -> Bundle:
    payments = list(b.payments)
    payments[i] = msgspec.structs.replace(payments[i], api={**payments[i].api, **changes})
    return msgspec.structs.replace(b, payments=payments)


def _with_execution(b: Bundle, i: int, **changes: Any) -> Bundle:
    payments = list(b.payments)
    execution = payments[i].execution
    assert execution is not None
    execution = msgspec.structs.replace(execution, **changes)
    payments[i] = msgspec.structs.replace(payments[i], execution=execution)
    return msgspec.structs.replace(b, payments=payments)


def _unreported_refund(b: Bundle) -> Bundle:
    return _with_api(b, 1, compensations=["void", "fraud_check_cancelled"])


def _execution_failed(b: Bundle) -> Bundle:
    return _with_execution(b, 0, status="FAILED", task_failures=["NON_DETERMINISTIC_ERROR"])


def _force_closed_without_terminate(b: Bundle) -> Bundle:
    return _with_execution(b, 0, task_failures=["FORCE_CLOSE_COMMAND"])


def _search_attribute_stuck(b: Bundle) -> Bundle:
    return _with_execution(b, 1, search_status="processing")


def _duplicate_unrecognised(b: Bundle) -> Bundle:
    return _with_api(b, 0, timeline=[])


def _foreign_decision(b: Bundle) -> Bundle:
    foreign = Callback("evt-x", "ch-someone-else", "succeeded", after_decision=False)
    return _with_execution(b, 0, callbacks=[foreign])


def _temporal_cancel_swallowed(b: Bundle) -> Bundle:
    # A Temporal cancel reached the execution, and the saga's timeline never shows it (a debit
    # abandoned in flight by TRY_CANCEL that then read as a failure).
    return _with_execution(b, 0, cancel_requests=1)


def _cancel_signal_dropped(b: Bundle) -> Bundle:
    return _with_execution(b, 0, cancel_signals=1)


def _velocity_broken(b: Bundle) -> Bundle:
    return msgspec.structs.replace(b, velocity_max_payments=2)


def _provider_took_money(b: Bundle) -> Bundle:
    extra = {"payment_id": "elsewhere", "amount": 50, "status": "captured"}
    return msgspec.structs.replace(b, charges=[*b.charges, extra])


@pytest.mark.parametrize(
    ("breakage", "checker", "names"),
    [
        (_swap_void, "payments consistent (ledger, charge, notification)", "ok"),
        (_drop_refund, "payments consistent (ledger, charge, notification)", "void"),
        (_drop_refund, "money conserved", "opening 1000"),
        (_wrong_amount, "payments consistent (ledger, charge, notification)", "ledger amounts"),
        (_stray_debit, "no ledger entries outside the payments", "ok:again"),
        (_balance_off, "accounts recompute from the journal", "alice"),
        (_no_notification, "payments consistent (ledger, charge, notification)", "ok"),
        (_wrong_notification, "payments consistent (ledger, charge, notification)", "notified"),
        (_unreported_refund, "payments consistent (ledger, charge, notification)", "void"),
        (_execution_failed, "executions closed, search attribute final", "NON_DETERMINISTIC"),
        (_force_closed_without_terminate, "executions closed, search attribute final", "FORCE"),
        (_search_attribute_stuck, "executions closed, search attribute final", "processing"),
        (_duplicate_unrecognised, "callbacks (duplicates, late, foreign)", "duplicate"),
        (_foreign_decision, "callbacks (duplicates, late, foreign)", "ch-someone-else"),
        (_temporal_cancel_swallowed, "cancels acknowledged", "Temporal cancel"),
        (_cancel_signal_dropped, "cancels acknowledged", "no cancel_requested"),
        (_velocity_broken, "velocity limit held", "alice"),
        (_provider_took_money, "money conserved", "held"),
    ],
    ids=lambda v: v.__name__.strip("_") if callable(v) else "",
)
def test_each_inconsistency_fails_its_checker_and_names_it(
    breakage: Callable[[Bundle], Bundle], checker: str, names: str
) -> None:
    invalid = _invalid(breakage(consistent()))
    assert checker in invalid, invalid
    assert names in invalid[checker]


def test_a_terminate_may_force_close_the_task_of_the_execution_it_terminated() -> None:
    """``temporal workflow terminate`` fails the in-flight workflow task (FORCE_CLOSE_COMMAND);
    on an execution a fault terminated that is Temporal's doing, not the saga's."""
    b = _with_execution(consistent(), 3, status="TERMINATED", task_failures=["FORCE_CLOSE_COMMAND"])
    payments = list(b.payments)
    payments[3] = msgspec.structs.replace(payments[3], terminated=True)
    invalid = _invalid(msgspec.structs.replace(b, payments=payments))
    assert "executions closed, search attribute final" not in invalid, invalid


def test_acknowledged_cancels_pass() -> None:
    b = _with_execution(consistent(), 0, cancel_requests=1, cancel_signals=1)
    b = _with_api(b, 0, timeline=[{"event": "temporal_cancel"}, {"event": "cancel_requested"}])
    assert "cancels acknowledged" not in _invalid(b)


def test_a_terminated_payment_whose_charge_was_captured_is_in_review() -> None:
    """The reconciler keeps the debit of a captured charge and lists it for review; the checker
    treats a terminated payment in that shape as in review, not as money lost."""
    b = _with_execution(consistent(), 0, status="TERMINATED")
    payments = list(b.payments)
    payments[0] = msgspec.structs.replace(payments[0], terminated=True)
    charges = [dict(c, status="captured") if c["payment_id"] == "ok" else c for c in b.charges]
    b = msgspec.structs.replace(b, payments=payments, charges=charges)
    assert "payments consistent (ledger, charge, notification)" not in _invalid(b)


def test_saga_check_reports_a_swapped_void_in_an_edited_journal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    journal = tmp_path / "journal.json"
    bundle = msgspec.to_builtins(consistent())
    journal.write_text(json.dumps({"scenarios": [{"scenario": "x", "bundle": bundle}]}))
    with pytest.raises(SystemExit) as exit_valid:
        saga(["check", str(journal)])
    assert exit_valid.value.code == 0
    edited = msgspec.to_builtins(_swap_void(consistent()))
    journal.write_text(json.dumps({"scenarios": [{"scenario": "x", "bundle": edited}]}))
    with pytest.raises(SystemExit) as exit_invalid:
        saga(["check", str(journal), "--table"])
    out = capsys.readouterr().out
    assert exit_invalid.value.code == 1
    assert "ok: expected consistent state" in out and "charge is voided" in out
    assert "check: INVALID" in out


def test_saga_check_refuses_a_file_that_is_not_a_journal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "x.json"
    path.write_text('{"scenarios": [{"scenario": "x", "bundle": {"entries": 3}}]}')
    with pytest.raises(SystemExit) as exited:
        saga(["check", str(path)])
    assert exited.value.code == 2
    assert "scenarios[0].bundle.entries: expected array, got int" in capsys.readouterr().err


def test_account_workers_used_counts_worker_processes_from_the_histories() -> None:
    """two-account-workers' proof that both workers raced: one worker seen fails it."""
    bundle = consistent()
    scenario = parse_scenario(
        "name: x\ndescription: d\nexpect:\n  account_workers: {min: 2}\n", "scenarios/x.yaml"
    )

    def verdict(workers: list[list[str]]) -> Verdict:
        b = bundle
        for i, names in enumerate(workers):
            b = _with_execution(b, i, account_workers=names)
        evidence = Evidence(payments=[], probes=[], bundle=b, checks=[], late_callbacks_ignored=0)
        return next(v for v in evaluate(scenario, evidence, []) if v.name == "account workers used")

    alone = verdict([["worker-accounts"]] * len(bundle.payments))
    assert not alone.passed and alone.observed == "worker-accounts"
    both = verdict([["worker-accounts"], ["worker-accounts", "worker-accounts-2"]])
    assert both.passed and both.observed == "worker-accounts, worker-accounts-2"


def test_a_deleted_payment_must_have_no_execution_left() -> None:
    """A workflow fault deleted the finished execution, then retried its POST: an execution
    under its id now is a second saga (the API without its request log started one)."""
    b = consistent()
    payments = list(b.payments)
    payments[0] = msgspec.structs.replace(payments[0], deleted=True)
    second_saga = msgspec.structs.replace(b, payments=payments)
    assert (
        "no execution (deleted)"
        in _invalid(second_saga)["executions closed, search attribute final"]
    )
    payments[0] = msgspec.structs.replace(payments[0], execution=None)
    gone = msgspec.structs.replace(b, payments=payments)
    assert "executions closed, search attribute final" not in _invalid(gone)


def _stamped_hours_apart(b: Bundle) -> Bundle:
    """The debits' stamps hours apart (a ledger that stamped by skewed worker clocks)."""
    entries = [
        msgspec.structs.replace(e, created_at=f"2026-11-26T1{i}:00:00+00:00")
        if e.kind == "debit"
        else e
        for i, e in enumerate(b.entries)
    ]
    return msgspec.structs.replace(b, entries=entries)


def _committed_between(b: Bundle, spans: dict[int, tuple[int, int]]) -> Bundle:
    """Payment i's debit committed between ``spans[i]`` seconds past 10:00, by true time."""
    for i, (first, last) in spans.items():
        at = [f"2026-11-26T10:{s // 60:02d}:{s % 60:02d}+00:00" for s in (first, last)]
        payments = list(b.payments)
        payments[i] = msgspec.structs.replace(payments[i], debit_between=at)
        b = msgspec.structs.replace(b, payments=payments)
    return b


def test_velocity_is_judged_by_true_time_when_the_stamps_lie() -> None:
    """Stamped an hour apart by skewed clocks, three debits that committed within 8 s of each
    other (the Temporal server's clock) break a limit of 2 a minute; stamped so, but without
    the true times, they do not."""
    skewed = msgspec.structs.replace(_stamped_hours_apart(consistent()), velocity_max_payments=2)
    assert "velocity limit held" not in _invalid(skewed)
    caught = _committed_between(skewed, {0: (1, 2), 1: (2, 3), 3: (4, 8)})
    assert "alice" in _invalid(caught)["velocity limit held"]


def test_a_debit_whose_commit_is_uncertain_counts_only_where_it_surely_fell() -> None:
    """Intervals that together span more than the window prove nothing: the debits may have
    committed more than a window apart."""
    b = msgspec.structs.replace(consistent(), velocity_max_payments=2)
    wide = _committed_between(b, {0: (0, 2), 1: (1, 70), 3: (3, 5)})
    assert "velocity limit held" not in _invalid(wide), _invalid(wide)
    narrow = _committed_between(b, {0: (0, 2), 1: (1, 50), 3: (3, 5)})
    assert "velocity limit held" in _invalid(narrow)
