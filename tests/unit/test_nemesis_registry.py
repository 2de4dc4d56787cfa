"""Every fault kind is one nemesis module, listed once in the registry (that nothing outside
``chaos/nemesis`` dispatches on a fault's type is ``test_architecture.py``'s)."""

from __future__ import annotations

import random
from typing import Any, get_args

import msgspec
import pytest

from chaos.explore.real import to_scenario
from chaos.explore.virtual.schedule import PaymentPlan, Schedule
from chaos.nemesis.base import Conditions, Nemesis
from chaos.nemesis.registry import KINDS, Fault, conditions, nemesis_named, nemesis_of
from chaos.scenario.format import parse_scenario


def test_the_union_and_the_kinds_list_the_same_types() -> None:
    assert [k.fault_type for k in KINDS] == list(dict.fromkeys(k.fault_type for k in KINDS))
    assert {k.fault_type for k in KINDS} == set(get_args(Fault))


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.kind())
def test_each_kind_describes_itself_and_names_its_virtual_counterpart(
    kind: type[Nemesis[Any]],
) -> None:
    assert kind.__doc__ and kind.fault_type.__doc__
    assert nemesis_named(kind.kind()) is kind
    fields = set(PaymentPlan.__struct_fields__) | set(Schedule.__struct_fields__)
    assert set(kind.virtual_fields) <= fields, "a virtual counterpart the schedule does not have"
    assert kind.virtual_fields or kind.virtual_note, "say what the virtual world does instead"


@pytest.mark.parametrize("kind", [k for k in KINDS if k.explored], ids=lambda k: k.kind())
def test_what_the_explorer_draws_of_each_kind_is_a_valid_fault(
    kind: type[Nemesis[Any]],
) -> None:
    rng = random.Random(7)
    for i in range(20):
        fault = {"kind": kind.kind(), "at_s": 1.0, "expect_effect": False} | kind.generate(rng, 3)
        data = {"name": f"drawn-{i}", "description": "Drawn.", "faults": [fault]}
        scenario = to_scenario(data)
        drawn = scenario.faults[0]
        assert nemesis_of(drawn) is kind
        assert kind.describe(drawn)


def test_the_model_sees_each_kind_through_its_nemesis() -> None:
    scenario = parse_scenario(
        """
name: shaped
description: Every modelled kind.
faults:
  - {kind: process, target: worker-accounts, action: kill, at_s: 1, duration_s: 2}
  - {kind: knobs, simulator: provider, set: {error_rate: 0.5}, at_s: 2, duration_s: 3}
  - {kind: toxic, link: provider, toxic: latency, attributes: {latency: 100}, at_s: 0}
  - {kind: link_down, link: fraud, at_s: 4, duration_s: 1}
""",
        "shaped.yaml",
    )
    assert conditions(scenario.faults) == Conditions(
        down={"worker-accounts": [(1.0, 3.0)]},
        knobs=[(2.0, 5.0, "provider", {"error_rate": 0.5})],
        delays=[(0.0, 5.0, "provider", {"latency": 100}, 1.0)],
        links_down=[(4.0, 5.0, "fraud")],
    )


def test_a_fault_round_trips_through_its_kind_tag() -> None:
    for kind in KINDS:
        assert kind.fault_type.__struct_config__.tag == kind.kind()
    encoded = msgspec.json.encode(
        parse_scenario(
            "name: t\ndescription: T.\nfaults: [{kind: upgrade, build: v1}]\n", "t.yaml"
        ).faults[0]
    )
    assert b'"kind":"upgrade"' in encoded
