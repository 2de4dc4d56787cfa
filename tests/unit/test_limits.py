"""The per-key token bucket: a burst passes, the next request waits for a refill, keys do not
share tokens, and idle keys are forgotten."""

from __future__ import annotations

from orchestrator.api import limits
from orchestrator.api.limits import TokenBucket
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
