"""The virtual explorer: the real saga in virtual time holds on drawn schedules, every mutant of
the catalogue is found on its own and replays from its seed, a violation shrinks to a minimal
schedule and is handed off as a scenario file, and the same seed always gives the same run."""

from __future__ import annotations

import signal
from datetime import timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml

from chaos.explore.virtual.coverage import TABLE
from chaos.explore.virtual.explore import Runner, explore, replay, schedule_seed
from chaos.explore.virtual.handoff import scenario_of
from chaos.explore.virtual.schedule import PaymentPlan, Schedule, decode, draw, encode
from chaos.mutants.sagas import MUTANTS
from chaos.scenario.format import parse_scenario
from chaos.verdicts.oracle import OUTCOMES
from orchestrator.workflows import reconcile
from orchestrator.workflows.builds import PaymentWorkflowV1
from runtime.cli import main as saga

#: Schedules per mutant in CI (each is found in at most 120 today; see saga mutants run --virtual).
MUTANT_BUDGET = 600


def cli(*argv: str) -> int | str | None:
    """``saga`` with ``argv``; its exit code."""
    with pytest.raises(SystemExit) as exit_:
        saga(list(argv))
    return exit_.value.code


def test_the_saga_holds_on_drawn_schedules_and_reaches_the_race_table(tmp_path: Path) -> None:
    report = explore(400, 7, tmp_path)
    assert report.violations == 0, [c.name for f in report.findings for c in f.failed]
    # Every cell the current saga can reach is reached (the unreachable ones are not in the
    # table: chaos.explore.virtual.coverage.UNREACHABLE_STEPS): a cell at 0 fails CI.
    unreached = [cell for cell in TABLE if not report.cells[cell]]
    assert unreached == [], unreached
    assert report.payments > report.schedules  # payments race one another


@pytest.mark.parametrize("name", sorted(n for n, m in MUTANTS.items() if not m.equivalent))
def test_every_mutant_is_found_and_its_seed_replays_the_violation(
    name: str, tmp_path: Path
) -> None:
    report = explore(MUTANT_BUDGET, 1, tmp_path, mutant=name, stop_at_first=True, max_findings=1)
    assert report.violations == 1, f"{name} survived {report.schedules} schedules"
    finding = report.findings[0]
    again = replay(draw(finding.seed), name)
    assert {c.name for c in again.failed} == set(report.first_failed)
    shrunk = decode(finding.files[0].read_bytes(), "shrunk")
    assert not replay(shrunk, name).ok  # the shrunk schedule still shows it
    assert replay(shrunk).ok  # and the real saga holds on it


def test_a_violation_shrinks_to_one_payment_and_hands_off_a_scenario(tmp_path: Path) -> None:
    # Seed 2: seed 1 now meets the mutant first through two payments (a refused retry whose
    # stalled first attempt commits 400 s later), which a scenario cannot hand off as one.
    report = explore(MUTANT_BUDGET, 2, tmp_path, mutant="no-refund-tombstone", stop_at_first=True)
    finding = report.findings[0]
    (plan,) = finding.schedule.payments
    assert plan == PaymentPlan(amount=plan.amount, debit_slow=True)
    assert finding.schedule.account_attempts == 1
    yaml_file = tmp_path / f"virtual-{finding.seed}.yaml"
    assert yaml_file in finding.files
    scenario = parse_scenario(yaml_file.read_text(), str(yaml_file))
    assert scenario.settings.account_retry.maximum_attempts == 1
    assert [type(f).__name__ for f in scenario.faults] == ["LedgerFault"]


def test_worker_processes_give_the_same_report_and_shrink_what_they_find(
    tmp_path: Path,
) -> None:
    """``--jobs``: outcomes taken in index order from forked workers, the violating schedule run
    again in the parent to shrink it. Nothing may differ from one process but the time."""
    one = explore(160, 5, tmp_path / "one", mutant="fraud-fail-open", jobs=1)
    two = explore(160, 5, tmp_path / "two", mutant="fraud-fail-open", jobs=2)
    assert one.violations > 0
    for field in ("schedules", "payments", "activations", "violations", "cells", "first_failed"):
        assert getattr(one, field) == getattr(two, field), field
    assert one.virtual_s == pytest.approx(two.virtual_s)
    assert [f.schedule for f in one.findings] == [f.schedule for f in two.findings]
    assert [f.files[0].name for f in two.findings] == [f.files[0].name for f in one.findings]

    # As after a CLI test in this process: SIGTERM raises KeyboardInterrupt, which forked
    # workers would inherit and hang on when the pool is terminated at the first violation.
    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        stopped = explore(
            160,
            5,
            tmp_path / "stop",
            mutant="fraud-fail-open",
            jobs=2,
            stop_at_first=True,
            max_findings=0,
        )
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert stopped.violations == 1 and stopped.first_failed == one.first_failed


def test_the_same_seed_gives_the_same_run() -> None:
    schedule = draw(schedule_seed(3, 17))
    first, second = replay(schedule), replay(schedule)
    assert msgspec.json.encode(first.bundle) == msgspec.json.encode(second.bundle)
    assert decode(encode(schedule), "round trip") == schedule


def test_a_foreign_callback_before_the_charge_returns_no_longer_decides() -> None:
    """Found by the explorer: a declined callback for another charge that arrived before the
    charge call returned failed the payment (the build before hold-early-callbacks)."""
    plan = PaymentPlan(callback="foreign", latency_s=0.2)
    schedule = Schedule(seed=5, payments=[plan])
    with Runner() as runner:
        runner.workflow = PaymentWorkflowV1
        old = runner.run(schedule)
    # Both the callbacks checker and the reference model ("own charge decides") name it.
    assert {c.name for c in old.failed} == {"callbacks (duplicates, late, foreign)", OUTCOMES}
    fixed = replay(schedule)
    assert fixed.ok
    assert fixed.bundle.payments[0].api["state"] == "succeeded"


def test_the_reconciler_waits_for_a_terminated_sagas_charge_in_flight() -> None:
    """Found by the explorer: a payment terminated while its charge was in flight was refunded
    by a reconciler pass at once, then the strict provider captured the charge: money created."""
    plan = PaymentPlan(
        latency_s=1.5,
        strict_provider=True,
        capture_after_s=0.0,
        interrupt="terminate",
        interrupt_at="score_payment",
        interrupt_frac=0.1,
    )
    result = replay(Schedule(seed=6, payments=[plan], reconcile_at_s=[5.0, 90.0]))
    assert result.ok, [str(c) for c in result.failed]


def test_saga_explore_virtual_prints_rate_coverage_and_exits_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli("explore", "--virtual", "--schedules", "30", "--seed", "2", "--out", str(tmp_path))
    out = capsys.readouterr().out
    assert code == 0, out
    assert "schedules run: 30" in out and "schedules/min" in out
    assert "violations: 0" in out and "race table:" in out


def test_saga_explore_virtual_replays_a_mutants_seed_and_exits_1(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = cli("explore", "--virtual", "--replay", "1000000", "--mutant", "skip-notification")
    out = capsys.readouterr().out
    assert code == 1
    assert "payments consistent" in out and "v1000000-0" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--virtual", "--schedules", "0"], "--schedules: expected at least 1"),
        (["--virtual", "--replay", "no-such-file.json"], "neither a schedule seed nor a file"),
        (["--replay", "12"], "--replay and --schedules go with --virtual"),
        (["--virtual", "--mutant", "nope"], "unknown mutant"),
    ],
)
def test_bad_explore_arguments_are_named(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli("explore", *argv) == 2
    assert message in capsys.readouterr().err


def test_a_broken_schedule_file_names_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"seed": 1, "payments": [{"amount": "lots"}]}')
    assert cli("explore", "--virtual", "--replay", str(bad)) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "$.payments[0].amount" in err


def test_a_reconciler_that_settles_a_payment_too_early_is_caught(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The settled-payments rule, broken on purpose: a pass that settles a payment closed less
    than SETTLE_AFTER_CLOSE ago (nothing repaired yet, since it is still settling) leaves its
    debit and live charge where no later pass looks. The checkers must see the money lost."""
    plan = PaymentPlan(latency_s=1.5, interrupt="terminate", interrupt_at="score_payment")
    schedule = Schedule(seed=6, payments=[plan], reconcile_at_s=[5.0, 90.0])
    assert replay(schedule).ok

    real = reconcile.settled_payments

    def too_early(*args: Any) -> list[str]:
        return real(*args[:-1], timedelta(0))

    monkeypatch.setattr(reconcile, "settled_payments", too_early)
    broken = replay(schedule)
    assert {c.name for c in broken.failed} == {"payments consistent (ledger, charge, notification)"}


def test_a_deleted_payments_retried_request_is_answered_by_the_real_request_log() -> None:
    """Workflow id reuse: once the saga completed, its execution is deleted and the request
    retried with the same key. The real request log answers it as the payment; a log that
    forgets (mutant forget-started-requests) starts a second saga under the id, and the checkers
    find an execution where there must be none."""
    schedule = Schedule(seed=9, payments=[PaymentPlan(deleted_then_retried=True)])
    held = replay(schedule)
    assert held.ok, [str(c) for c in held.failed]
    (payment,) = held.bundle.payments
    assert payment.deleted and payment.execution is None and held.replayed == {payment.payment_id}
    assert payment.api["state"] == "succeeded"
    with Runner("forget-started-requests") as runner:
        broken = runner.run(schedule)
    assert "executions closed, search attribute final" in {c.name for c in broken.failed}


def test_a_deleted_payment_is_handed_off_as_a_delete_at_done() -> None:
    plans = [PaymentPlan(deleted_then_retried=True), PaymentPlan()]
    data, _ = scenario_of(Schedule(seed=9, payments=plans), "handed")
    deletes = [f for f in data["faults"] if f.get("action") == "delete"]
    assert deletes == [
        {
            "kind": "workflow",
            "action": "delete",
            "share": 0.5,
            "at_step": "done",
            "at_s": 0,
            "duration_s": 60,
            "expect_effect": False,
        }
    ]
    parse_scenario(yaml.safe_dump(data), "handed.yaml")
