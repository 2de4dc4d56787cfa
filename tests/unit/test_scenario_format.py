"""Scenario files: every shipped one is valid; a bad one names the file and the YAML path."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaos.errors import ScenarioError
from chaos.scenario.format import find_scenario, load_scenario, parse_scenario, scenario_files
from runtime.cli import main

MINIMAL = "name: x\ndescription: d\n"


def test_at_least_twenty_scenarios_ship_and_validate() -> None:
    files = scenario_files()
    assert len(files) >= 20
    for path in files:
        assert load_scenario(path).name == path.stem


LATENCY = "{kind: toxic, link: provider, toxic: latency"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            "workload: {paymnts: 3}\n",
            "x.yaml: workload: unknown field 'paymnts' (expected one of: payments, rate_per_s,",
        ),
        (
            "simulators: {provider: {error_rate: -0.1}}\n",
            "x.yaml: simulators.provider.error_rate: expected float >= 0.0",
        ),
        (
            f"faults:\n  - {LATENCY}, attributes: {{latency: -5}}}}\n",
            "x.yaml: faults[0].attributes.latency: expected >= 0",
        ),
        (
            f"faults:\n  - {LATENCY}, attributes: {{rate: 5}}}}\n",
            "x.yaml: faults[0].attributes.rate: not an attribute of the latency toxic (expected"
            " one of: jitter, latency)",
        ),
        (
            "faults:\n  - {kind: meteor}\n",
            "x.yaml: faults[0].kind: value 'meteor' is not valid (expected one of:",
        ),
        (
            "faults:\n  - {kind: knobs, simulator: provider, set: {error_rate: 2}}\n",
            "x.yaml: faults[0].set.error_rate: expected float <= 1.0",
        ),
        (
            "faults:\n  - {kind: link_down, link: database}\n",
            "x.yaml: faults[0].link: value 'database' is not valid (expected one of: callbacks,"
            " db, fraud, notify, provider, temporal)",
        ),
        (
            "expect: {states: {done: {min: 1}}}\n",
            "x.yaml: expect.states: key 'done' is not valid (expected one of: cancelled, failed,",
        ),
        ("workload: {cancels: {share: 0.5}}\n", "x.yaml: workload.cancels: give exactly one"),
        # contradictions
        (
            "expect: {states: {failed: {min: 5, max: 2}}}\n",
            "x.yaml: expect.states.failed: min 5 > max 2",
        ),
        (
            "expect: {reconciled: {min_share: 0.9, max_share: 0.1}}\n",
            "x.yaml: expect.reconciled: min_share 0.9 > max_share 0.1",
        ),
        (
            "expect: {deadline_s: 20}\nfaults:\n  - {kind: link_down, link: fraud, at_s: 45}\n",
            "x.yaml: faults[0].at_s: starts at 45 s, after the run ends (20 s:",
        ),
        (f"faults:\n  - {LATENCY}}}\n", "x.yaml: faults[0].attributes: the latency toxic needs"),
        (
            "faults:\n  - {kind: process, target: sim-provider, action: kill}\n",
            "x.yaml: faults[0].target: sim-provider keeps its charges in memory",
        ),
    ],
)
def test_errors_name_the_file_and_the_path(extra: str, message: str) -> None:
    with pytest.raises(ScenarioError) as err:
        parse_scenario(MINIMAL + extra, "scenarios/x.yaml")
    assert message in str(err.value)


def test_the_name_must_match_the_file(tmp_path: Path) -> None:
    path = tmp_path / "other.yaml"
    path.write_text(MINIMAL)
    with pytest.raises(ScenarioError, match=r"other.yaml: name: 'x' does not match"):
        load_scenario(path)


def test_validate_command_reports_file_and_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "typo.yaml"
    bad.write_text("name: typo\ndescription: d\nsimulators: {provider: {eror_rate: 0.5}}\n")
    with pytest.raises(SystemExit) as exit_:
        main(["scenario", "validate", str(bad)])
    assert exit_.value.code == 1
    err = capsys.readouterr().err
    assert f"{bad}: simulators.provider: unknown field 'eror_rate' (expected one of:" in err
    assert "$" not in err and "`" not in err


def test_each_scenario_runs_on_the_backends_that_run_what_it_breaks() -> None:
    backends = {p.stem: load_scenario(p).backends for p in scenario_files()}
    assert backends["happy-path"] == ("dev", "cluster")
    assert backends["temporal-restart"] == ("dev", "cluster")  # `temporal`: every service there
    for name in ("db-outage", "history-crash", "two-account-workers", "clock-skew-account-workers"):
        assert backends[name] == ("cluster",), name


def test_a_scenario_the_backend_cannot_run_is_refused_naming_what_is_missing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["scenario", "run", "history-crash", "db-outage"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "the dev backend does not run what these scenarios break (try --backend cluster)" in err
    assert "history-crash: faults[0].target: temporal-history" in err
    assert "db-outage: faults[0].link: db, faults[1].target: postgres" in err


def test_partial_toxicity_is_refused_on_the_db_link() -> None:
    with pytest.raises(ScenarioError, match=r"faults\[0\].toxicity: .*the db link carries"):
        parse_scenario(
            MINIMAL + "faults:\n  - {kind: toxic, link: db, toxic: latency, toxicity: 0.5,"
            " attributes: {latency: 100}}\n",
            "scenarios/x.yaml",
        )


@pytest.mark.parametrize(
    ("action", "step"), [("delete", "notify"), ("terminate", "done"), ("cancel", "done")]
)
def test_delete_acts_on_finished_payments_and_only_delete_does(action: str, step: str) -> None:
    with pytest.raises(ScenarioError, match=r"faults\[0\].at_step: delete acts on a finished"):
        parse_scenario(
            MINIMAL + f"faults:\n  - {{kind: workflow, action: {action}, at_step: {step},"
            " at_s: 0, duration_s: 5}\n",
            "scenarios/x.yaml",
        )


def test_a_calm_scenario_has_no_fault_cancel_knob_or_short_timer() -> None:
    """Its payments are healthy: the reference model holds each to success."""
    assert load_scenario(find_scenario("happy-path")).calm
    for name in ("provider-decline", "missing-callback", "cancel-mid-flight", "fraud-outage"):
        assert not load_scenario(find_scenario(name)).calm, name
    short = parse_scenario(
        "name: s\ndescription: S.\nsettings: {callback_timeout_s: 1}\n", "s.yaml"
    )
    assert not short.calm
