"""Simulator knobs: a bad update names the field and changes nothing."""

from __future__ import annotations

import msgspec
import pytest

from simulators.common import KnobBox
from simulators.provider import ProviderKnobs


def test_a_valid_partial_update_merges() -> None:
    box = KnobBox(ProviderKnobs())
    knobs = box.update(b'{"error_rate": 0.5, "error_kind": "timeout"}')
    assert (knobs.error_rate, knobs.error_kind, knobs.decline_rate) == (0.5, "timeout", 0.0)


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        (b'{"error_rate": 1.5}', "error_rate"),
        (b'{"latency_ms": -1}', "latency_ms"),
        (b'{"error_kind": "meteor"}', "error_kind"),
        (b'{"eror_rate": 0.1}', "eror_rate"),
    ],
)
def test_a_bad_update_names_the_field_and_keeps_the_knobs(patch: bytes, field: str) -> None:
    box = KnobBox(ProviderKnobs(error_rate=0.25))
    with pytest.raises(msgspec.ValidationError) as err:
        box.update(patch)
    assert field in str(err.value)
    assert box.knobs.error_rate == 0.25


def test_the_seed_makes_choices_repeatable() -> None:
    first, second = KnobBox(ProviderKnobs(seed=7)), KnobBox(ProviderKnobs(seed=7))
    assert [first.chance(0.5) for _ in range(20)] == [second.chance(0.5) for _ in range(20)]
