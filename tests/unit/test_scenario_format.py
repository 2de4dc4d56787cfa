"""Scenario files: every shipped one is valid; a bad one names the file and the YAML path."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaos.errors import ScenarioError
from chaos.scenario import load_scenario, parse_scenario, scenario_files
from orchestrator.cli import main

MINIMAL = "name: x\ndescription: d\n"


def test_at_least_twenty_scenarios_ship_and_validate() -> None:
    files = scenario_files()
    assert len(files) >= 20
    for path in files:
        assert load_scenario(path).name == path.stem


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("workload: {paymnts: 3}\n", "x.yaml: $.workload: object contains unknown field `paymnts`"),
        (
            "simulators: {provider: {error_rate: -0.1}}\n",
            "x.yaml: $.simulators.provider.error_rate: expected `float` >= 0.0",
        ),
        (
            "faults:\n  - {kind: toxic, link: provider, toxic: latency,"
            " attributes: {latency: -5}}\n",
            "x.yaml: $.faults[0].attributes.latency: expected >= 0",
        ),
        (
            "faults:\n  - {kind: toxic, link: provider, toxic: latency, attributes: {rate: 5}}\n",
            "x.yaml: $.faults[0].attributes.rate: not an attribute of the latency toxic",
        ),
        ("faults:\n  - {kind: meteor}\n", "x.yaml: $.faults[0].kind: invalid value 'meteor'"),
        (
            "faults:\n  - {kind: knobs, simulator: provider, set: {error_rate: 2}}\n",
            "x.yaml: $.faults[0].set.error_rate: expected `float` <= 1.0",
        ),
        ("faults:\n  - {kind: link_down, link: database}\n", "x.yaml: $.faults[0].link: invalid"),
        ("workload: {cancels: {share: 0.5}}\n", "x.yaml: $.workload.cancels: give exactly one"),
    ],
)
def test_errors_name_the_file_and_the_path(extra: str, message: str) -> None:
    with pytest.raises(ScenarioError) as err:
        parse_scenario(MINIMAL + extra, "scenarios/x.yaml")
    assert message in str(err.value)


def test_the_name_must_match_the_file(tmp_path: Path) -> None:
    path = tmp_path / "other.yaml"
    path.write_text(MINIMAL)
    with pytest.raises(ScenarioError, match=r"other.yaml: \$.name: 'x' does not match"):
        load_scenario(path)


def test_validate_command_reports_file_and_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "typo.yaml"
    bad.write_text("name: typo\ndescription: d\nsimulators: {provider: {eror_rate: 0.5}}\n")
    with pytest.raises(SystemExit) as exit_:
        main(["scenario", "validate", str(bad)])
    assert exit_.value.code == 1
    assert f"{bad}: $.simulators.provider: object contains unknown field `eror_rate`" in (
        capsys.readouterr().err
    )
