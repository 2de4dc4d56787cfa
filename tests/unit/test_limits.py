"""The per-key token bucket: a burst passes, the next request waits for a refill, keys do not
share tokens, and idle keys are forgotten."""

from __future__ import annotations

from typing import Any

import httpx

from orchestrator.api import limits
from orchestrator.api.limits import Limits, TokenBucket
from tests.unit.clock import Clock


def test_a_burst_passes_then_the_rate_applies() -> None:
    clock = Clock()
    bucket = TokenBucket(rate_per_s=2.0, burst=3, clock=clock)
    assert [bucket.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take("a") == 0.5  # one token every half second
    assert bucket.take("b") == 0.0  # another key has its own bucket
    clock.now = 0.5
    assert bucket.take("a") == 0.0
    assert bucket.take("a") > 0


def test_idle_keys_are_forgotten() -> None:
    clock = Clock()
    bucket = TokenBucket(rate_per_s=1.0, burst=1, clock=clock)
    limits_max = limits.MAX_TRACKED_KEYS
    try:
        limits.MAX_TRACKED_KEYS = 3
        for key in "abc":
            bucket.take(key)
        clock.now = 10.0  # every bucket refilled
        bucket.take("d")
        assert len(bucket._buckets) <= 1
    finally:
        limits.MAX_TRACKED_KEYS = limits_max


async def _app(scope: dict[str, object], receive: object, send: Any) -> None:
    """Answers 404 to everything, as routing would for an unknown path."""
    await send({"type": "http.response.start", "status": 404, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def _client(burst: int = 2) -> httpx.AsyncClient:
    limited = Limits(_app, TokenBucket(1.0, burst, Clock()), TokenBucket(1.0, burst, Clock()))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=limited), base_url="http://api")


async def test_one_key_spelt_three_ways_shares_one_bucket() -> None:
    """Issue 30: the bucket was keyed on the raw header, so each spelling got a fresh one."""
    async with _client() as api:
        answers = [
            (await api.get("/nowhere", headers={"Authorization": spelling})).status_code
            for spelling in ("Bearer KEY", "bearer KEY", "BEARER  KEY ")
        ]
    assert answers == [404, 404, 429]


async def test_requests_without_a_key_are_limited_per_client_before_routing() -> None:
    async with _client() as api:
        answers = [(await api.post("/no/such/route")).status_code for _ in range(3)]
    assert answers == [404, 404, 429]
