"""The scenario report: Markdown plus a matplotlib timeline per scenario, with the fault window,
the API gap and each state in the chart."""

from __future__ import annotations

from pathlib import Path

from chaos.nemesis.base import FaultRecord
from chaos.run.runner import ScenarioResult
from chaos.run.workload import PaymentRecord
from chaos.scenario.format import find_scenario, load_scenario
from chaos.verdicts.report import _gaps, write_report


def _result() -> ScenarioResult:
    scenario = load_scenario(find_scenario("flaky-provider"))
    payments = [PaymentRecord(i, "alice", 100, "card", f"k{i}") for i in range(4)]
    samples = [
        {"t": 0.0, "processing": 4, "ledger": {"debit": 0}},
        {"t": 1.0, "processing": 3, "succeeded": 1, "ledger": {"debit": 2}},
        {"t": 2.0, "api": None, "ledger": None},
        {"t": 3.0, "succeeded": 3, "failed": 1, "ledger": {"debit": 4, "refund": 1}},
    ]
    fault = FaultRecord(0, "knobs", "provider error_rate 0.5", 0.5, 2.5, 0.5, 0.5, 2.5)
    return ScenarioResult(scenario, "run", "now", 3.0, payments=payments, faults=[fault],
                          samples=samples)  # fmt: skip


def test_report_draws_a_timeline_with_matplotlib(tmp_path: Path) -> None:
    report = write_report([_result()], tmp_path)
    text = report.read_text()
    assert "![flaky-provider timeline](flaky-provider.svg)" in text
    svg = (tmp_path / "flaky-provider.svg").read_text()
    assert svg.lstrip().startswith("<?xml") and "Matplotlib" in svg
    for label in ("succeeded", "failed", "debited (ledger)", "API gap", "error_rate 0.5"):
        assert label in svg, label


def test_gaps_span_the_samples_the_api_missed() -> None:
    assert _gaps(_result().samples, "api") == [(1.0, 3.0)]


def test_the_journal_and_the_report_carry_the_runs_metadata(tmp_path: Path) -> None:
    """Issue 31: commit, seed, backend, versions, host, times and the exact command."""
    import json

    from chaos.verdicts.journal import write_journal
    from chaos.verdicts.run_metadata import now, run_metadata

    run = run_metadata(
        seed=7, backend="dev", started_at=now(), argv=["scenario", "run", "flaky-provider"]
    )
    assert run["command"] == "saga scenario run flaky-provider"
    assert run["commit"] is None or len(run["commit"]) == 40
    assert run["seed"] == 7 and run["cores"] and run["python"] and run["temporal_sdk"]
    assert str(run["temporal_server"]).startswith("dev server")
    journal = json.loads(write_journal([_result()], tmp_path, run).read_text())
    assert journal["run"] == run
    report = write_report([_result()], tmp_path, run).read_text()
    assert "| command | `saga scenario run flaky-provider` |" in report
