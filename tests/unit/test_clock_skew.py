"""The ``clock_skew`` fault kind: what a scenario may ask of it, where it runs, and that its
mechanism (libfaketime) really moves a process's wall clock and not its monotonic one."""

from __future__ import annotations

import glob

import pytest

from chaos.errors import ScenarioError
from chaos.explore.virtual.handoff import scenario_of
from chaos.explore.virtual.schedule import PaymentPlan, Schedule
from chaos.nemesis.clock import LIBFAKETIME, measured_offset, skewed_environment
from chaos.scenario.format import parse_scenario
from tests.binaries import missing

SKEWED = """name: x
description: d
faults:
  - {kind: clock_skew, offset_s: %s}
"""


def test_a_skew_runs_only_where_two_account_workers_share_a_postgresql_ledger() -> None:
    scenario = parse_scenario(SKEWED % 600, "scenarios/x.yaml")
    assert scenario.backends == ("cluster",)
    assert scenario.refusals("compose") == [
        "faults[0]: a clock skew (the harness restarts the worker under libfaketime itself)"
    ]
    assert scenario.refusals("cluster") == []


@pytest.mark.parametrize(
    ("offset", "message"),
    [
        ("0", r"x.yaml: faults\[0\].offset_s: a skew of 0 s changes nothing"),
        ("100000", r"offset_s.*<= 86400"),
        ("ten", r"offset_s"),
    ],
)
def test_a_bad_offset_is_refused_naming_the_field(offset: str, message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        parse_scenario(SKEWED % offset, "scenarios/x.yaml")


def test_a_target_that_is_not_an_account_worker_is_refused() -> None:
    text = SKEWED.replace("offset_s: %s", "offset_s: 5, target: worker-payments")
    with pytest.raises(ScenarioError, match=r"faults\[0\].target"):
        parse_scenario(text, "scenarios/x.yaml")


def test_libfaketime_moves_the_wall_clock_of_the_process_it_is_preloaded_in() -> None:
    if not glob.glob(LIBFAKETIME):
        missing(f"libfaketime not found ({LIBFAKETIME}): apt-get install libfaketime")
    assert measured_offset(skewed_environment(600)) == pytest.approx(600, abs=2)
    assert measured_offset(skewed_environment(-90)) == pytest.approx(-90, abs=2)
    assert measured_offset({}) == pytest.approx(0, abs=2)


def test_a_virtual_schedule_with_disagreeing_clocks_is_handed_off_as_a_skew() -> None:
    schedule = Schedule(seed=1, account_clocks_s=[0.0, 600.0], payments=[PaymentPlan()] * 2)
    data, _ = scenario_of(schedule, "handed")
    assert [f for f in data["faults"] if f["kind"] == "clock_skew"] == [
        {"kind": "clock_skew", "offset_s": 600.0, "at_s": 0.0, "duration_s": 120.0}
    ]
