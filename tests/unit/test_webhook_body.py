"""The webhook's body is capped and its type checked (issue 30); a wrong signature's 401 says
how to authenticate."""

from __future__ import annotations

import json

import pytest

from orchestrator.api.errors import BadSignature, InvalidField
from orchestrator.api.schemas import GatewayEvent
from orchestrator.api.strict_body import decode_strict

GOOD = {
    "event_id": "evt_1",
    "type": "charge.succeeded",
    "payment_id": "pay_1",
    "charge_id": "ch_1",
    "status": "succeeded",
}


def decode(**changes: object) -> GatewayEvent:
    return decode_strict(json.dumps(GOOD | changes).encode(), GatewayEvent)


def test_a_good_event_decodes() -> None:
    assert decode().charge_id == "ch_1"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("event_id", "e" * 129),
        ("charge_id", "c" * 129),
        ("payment_id", "p" * 65),
        ("charge_id", ""),
        ("type", "charge.refunded"),
        ("type", "x" * 10_000),
    ],
)
def test_an_oversized_or_unknown_field_is_refused_by_name(field: str, value: str) -> None:
    with pytest.raises(InvalidField) as err:
        decode(**{field: value})
    assert err.value.field_error["key"] == field


def test_a_wrong_signature_answers_401_with_www_authenticate() -> None:
    refused = BadSignature("stale", malformed=False)
    assert refused.status == 401 and "WWW-Authenticate" in refused.headers
    assert BadSignature("no header", malformed=True).status == 400
