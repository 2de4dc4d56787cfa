"""The msgspec ``json/plain`` converter writes what the SDK's converter writes and reads it back."""

from __future__ import annotations

import dataclasses
import inspect
import json
import types
import typing
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from temporalio.api.common.v1 import Payload
from temporalio.converter import DefaultPayloadConverter, JSONPlainPayloadConverter

from orchestrator import models
from orchestrator.payload_json import (
    SAGA_DATA_CONVERTER,
    MsgspecJSONPayloadConverter,
    SagaPayloadConverter,
)

SDK = JSONPlainPayloadConverter()
SAGA = MsgspecJSONPayloadConverter()
MODEL_TYPES = [
    cls
    for _, cls in inspect.getmembers(models, inspect.isclass)
    if dataclasses.is_dataclass(cls) and cls.__module__ == models.__name__
]


def values_of(hint: Any) -> st.SearchStrategy[Any]:
    """Values of a model field's type: the saga's dataclasses, optionals, lists and scalars.
    Finite floats only: JSON has no NaN (the SDK writes a bare NaN, msgspec a null)."""
    if dataclasses.is_dataclass(hint):
        hints = typing.get_type_hints(hint)
        fields = {f.name: values_of(hints[f.name]) for f in dataclasses.fields(hint)}
        return st.builds(hint, **fields)
    args = typing.get_args(hint)
    if isinstance(hint, types.UnionType):
        return st.one_of(*(values_of(arg) for arg in args))
    if typing.get_origin(hint) is list:
        return st.lists(values_of(args[0]), max_size=3)
    if hint is float:
        return st.floats(allow_nan=False, allow_infinity=False)
    return st.from_type(hint)


def payload(data: bytes) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=data)


def test_every_model_is_covered() -> None:
    assert len(MODEL_TYPES) >= 20, [cls.__name__ for cls in MODEL_TYPES]


@pytest.mark.parametrize("cls", MODEL_TYPES, ids=lambda cls: cls.__name__)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_a_model_round_trips_between_the_two_converters(cls: type, data: st.DataObject) -> None:
    value = data.draw(values_of(cls))
    ours, theirs = SAGA.to_payload(value), SDK.to_payload(value)
    assert ours is not None and theirs is not None
    assert ours.metadata == theirs.metadata
    assert json.loads(ours.data) == json.loads(theirs.data)
    if ours.data.isascii() and b"e" not in ours.data.lower().replace(b'"', b""):
        # Same bytes unless text is non-ASCII (the SDK escapes it) or a float has an exponent.
        assert ours.data == theirs.data
    assert SAGA.from_payload(theirs, cls) == value
    assert SDK.from_payload(ours, cls) == value


def test_the_saga_payloads_are_the_sdk_bytes() -> None:
    status = models.PaymentStatus(
        "pay_1", "alice", 1234, "USD", "card", "succeeded", "done", 1, "ch_1",
        fraud=models.FraudVerdict(True, 0.12, ["ok"]),
        timeline=[models.TimelineEntry("2026-11-27T00:00:00+00:00", "debited", "1234")],
    )  # fmt: skip
    outcome = models.PaymentOutcome("pay_1", "succeeded", None, ["refund"], status)
    for value in (outcome, status, models.LedgerRequest("pay_1", "alice", 5, 60.0, 100)):
        assert SAGA.to_payload(value) == SDK.to_payload(value)


def test_what_msgspec_cannot_encode_goes_through_the_sdk() -> None:
    class Pair:
        def __iter__(self) -> Any:
            return iter([1, 2])

    encoded = SAGA.to_payload(Pair())
    assert encoded is not None and encoded.data == b"[1,2]"


def test_what_msgspec_refuses_to_decode_the_sdk_still_reads() -> None:
    # msgspec is strict about a float for an int; the SDK's conversion takes an integral one.
    data = payload(b'{"amount":1.0,"balance_after":2}')
    assert SAGA.from_payload(data, models.LedgerResult) == models.LedgerResult(1, 2)


def test_a_type_neither_can_build_fails_like_the_sdk() -> None:
    class Opaque:
        pass

    for converter in (SAGA, SDK):
        with pytest.raises(TypeError, match="Unserializable type"):
            converter.from_payload(payload(b"3"), Opaque)


def test_a_hint_that_cannot_be_cached_is_left_to_the_sdk() -> None:
    unhashable = typing.Annotated[int, []]
    for converter in (SAGA, SDK):
        with pytest.raises(TypeError, match="Unserializable type"):
            converter.from_payload(payload(b"3"), unhashable)  # type: ignore[arg-type]


def test_an_untyped_payload_decodes_to_plain_json() -> None:
    assert SAGA.from_payload(payload(b'{"a":[1,2.5,"x",null]}')) == {"a": [1, 2.5, "x", None]}


def test_malformed_json_fails_like_the_sdk() -> None:
    for converter in (SAGA, SDK):
        with pytest.raises(RuntimeError, match="Failed parsing"):
            converter.from_payload(payload(b"{bad"), models.LedgerResult)


def test_a_missing_field_fails_like_the_sdk() -> None:
    for converter in (SAGA, SDK):
        with pytest.raises(TypeError):
            converter.from_payload(payload(b'{"balance_after":2}'), models.LedgerResult)


def test_the_composite_keeps_the_sdk_order_with_only_json_replaced() -> None:
    ours = [type(c) for c in SagaPayloadConverter().converters.values()]
    sdk = [type(c) for c in DefaultPayloadConverter().converters.values()]
    replaced = {JSONPlainPayloadConverter: MsgspecJSONPayloadConverter}
    assert ours == [replaced.get(c, c) for c in sdk]
    converter = SAGA_DATA_CONVERTER.payload_converter
    assert converter.from_payloads(converter.to_payloads([None, b"x", "s"])) == [None, b"x", "s"]


def test_the_payload_benchmark_prints_both_converters(capsys: pytest.CaptureFixture[str]) -> None:
    from chaos.perf.bench import payloads

    assert payloads.main(["--repeat", "2", "--rounds", "1"]) == 0
    out = capsys.readouterr().out
    assert "SDK json/plain converter" in out and "ratio (SDK / msgspec)" in out, out
    # Every payload of the benchmark is a saga model the converters agree on.
    for value, cls in payloads.happy_payment_payloads():
        assert cls in MODEL_TYPES and SAGA.to_payload(value) == SDK.to_payload(value)
