"""Limits applied before routing, as raw ASGI: a header size cap (431) and a per-key token bucket
(429 with ``Retry-After``). The body size cap (413) is Litestar's ``request_max_body_size``.

The bucket is keyed by the hash of the presented bearer key, known or not, so a flood of guessed
keys is throttled like a flood from one client; requests without a key (the signed webhook,
health, metrics) are not limited here.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import msgspec

from orchestrator.api.auth import key_hash
from orchestrator.api.metrics import HEADERS_TOO_LARGE, RATE_LIMITED
from orchestrator.api.problems import PROBLEM_JSON, problem

HEADER_LIMIT_BYTES = 16 * 1024
"""All request headers together, names and values."""
BODY_LIMIT_BYTES = 64 * 1024
"""A payment request is well under 1 KiB; a webhook event too."""
MAX_TRACKED_KEYS = 10_000

ASGIApp = Callable[..., Any]


class TokenBucket:
    """Per key: ``burst`` tokens, refilled at ``rate_per_s``; a request takes one."""

    def __init__(
        self, rate_per_s: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate_per_s = rate_per_s
        self.burst = burst
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)

    def take(self, key: str) -> float:
        """0 if the request may go; otherwise the seconds until a token is free."""
        now = self.clock()
        tokens, at = self._buckets.get(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - at) * self.rate_per_s)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.rate_per_s
        self._buckets[key] = (tokens - 1.0, now)
        if len(self._buckets) > MAX_TRACKED_KEYS:
            self._forget_full(now)
        return 0.0

    def _forget_full(self, now: float) -> None:
        # A bucket that has refilled is the same as no bucket: dropping it bounds the memory.
        for key, (tokens, at) in list(self._buckets.items()):
            if tokens + (now - at) * self.rate_per_s >= self.burst:
                del self._buckets[key]


def limits_middleware(bucket: TokenBucket) -> Callable[[ASGIApp], ASGIApp]:
    """The Litestar middleware factory enforcing both limits."""

    def wrap(app: ASGIApp) -> ASGIApp:
        async def guarded(scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            headers: list[tuple[bytes, bytes]] = scope["headers"]
            if sum(len(name) + len(value) for name, value in headers) > HEADER_LIMIT_BYTES:
                HEADERS_TOO_LARGE.inc()
                limit = f"all headers together may be at most {HEADER_LIMIT_BYTES} bytes"
                await _answer(send, 431, "Request headers too large", limit)
                return
            authorization = next((v for n, v in headers if n == b"authorization"), None)
            if authorization is not None:
                wait_s = bucket.take(key_hash(authorization.decode("latin-1")))
                if wait_s > 0:
                    RATE_LIMITED.inc()
                    retry = str(max(1, math.ceil(wait_s)))
                    detail = (
                        f"this API key may make {bucket.rate_per_s:g} requests/s"
                        f" (bursts of {bucket.burst}); retry in {retry}s"
                    )
                    await _answer(
                        send, 429, "Too many requests", detail, [(b"retry-after", retry.encode())]
                    )
                    return
            await app(scope, receive, send)

        return guarded

    return wrap


async def _answer(
    send: Any,
    status: int,
    title: str,
    detail: str,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    body = msgspec.json.encode(problem(status, title, detail))
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", PROBLEM_JSON.encode()),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
