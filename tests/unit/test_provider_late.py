"""The provider simulator's late processing (an attempt left unanswered, its charge made later)
and its refund of a capture, through its ASGI app."""

from __future__ import annotations

import asyncio

import httpx
import msgspec
import pytest

from simulators.common import KnobBox
from simulators.provider import ProviderKnobs, ProviderState, create_app

BODY = {
    "payment_id": "p1",
    "user_id": "alice",
    "amount": 100,
    "currency": "USD",
    "payment_method": "card",
}


def client(**knobs: object) -> tuple[httpx.AsyncClient, ProviderState]:
    chosen = msgspec.convert({"missing_callback_rate": 1.0, **knobs}, ProviderKnobs)
    state = ProviderState(KnobBox(chosen), "http://api/hook", "s" * 32)
    transport = httpx.ASGITransport(app=create_app(state))
    return httpx.AsyncClient(transport=transport, base_url="http://provider"), state


async def test_a_late_attempt_goes_unanswered_and_its_charge_lands_later() -> None:
    http, state = client(late_first_attempts=1, late_processing_ms=300, hang_ms=50, strict=True)
    async with http:
        with pytest.raises(ConnectionAbortedError):
            await http.post("/charges", json=BODY, headers={"Idempotency-Key": "p1"})
        assert (
            state.book.charges == {}
        )  # nothing yet: a void now finds nothing (and, strict, forgets)
        assert (await http.post("/charges/p1/void")).json() == {"voided": False}
        await asyncio.sleep(0.5)
        listed = (await http.get("/charges")).json()
    assert [(c["key"], c["status"]) for c in listed] == [("p1", "authorized")]


async def test_a_retry_while_the_late_attempt_waits_is_the_same_charge() -> None:
    http, state = client(late_first_attempts=1, late_processing_ms=200, hang_ms=10)
    async with http:
        with pytest.raises(ConnectionAbortedError):
            await http.post("/charges", json=BODY, headers={"Idempotency-Key": "p1"})
        second = await http.post("/charges", json=BODY, headers={"Idempotency-Key": "p1"})
        await asyncio.sleep(0.4)
    assert second.status_code == 201 and len(state.book.charges) == 1
    assert state.book.charges["p1"].charge_id == second.json()["charge_id"]


async def test_a_capture_is_refunded_and_an_authorization_is_not() -> None:
    http, state = client(strict=True, capture_after_ms=0)
    async with http:
        await http.post("/charges", json=BODY, headers={"Idempotency-Key": "p1"})
        refunded = await http.post("/charges/p1/refund")
        again = await http.post("/charges/p1/refund")
        unknown = await http.post("/charges/nope/refund")
    assert refunded.json()["refunded"] and again.json()["refunded"]
    assert unknown.json() == {"refunded": False}
    assert state.book.charges["p1"].state == "refunded"

    http, state = client(strict=True, capture_after_ms=60_000)
    async with http:
        await http.post("/charges", json=BODY, headers={"Idempotency-Key": "p1"})
        refused = await http.post("/charges/p1/refund")
    assert refused.status_code == 409 and refused.json()["error"] == "authorized"


async def test_a_non_utf8_idempotency_key_is_not_a_500() -> None:
    """Issue 30: the provider simulator answered a 500 to a key that was not UTF-8."""
    http, _ = client()
    async with http:
        answer = await http.post(
            "/charges", json=BODY, headers=[(b"Idempotency-Key", b"\xff\xfe-key")]
        )
    assert answer.status_code < 500, answer.text
