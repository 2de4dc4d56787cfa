"""Limits applied before routing, as an ASGI layer around the whole app (:class:`Limits`): a
header size cap (431) and token buckets (429 with ``Retry-After``), so unknown paths and wrong
methods meet them too. The body size cap (413) is Litestar's ``request_max_body_size``.

A request with a bearer key is limited per key as authentication reads it
(:func:`~orchestrator.api.auth.presented_key`: ``bearer K``, ``BEARER K`` and ``Bearer  K`` are
one key and share one bucket), known or not, so a flood of guessed keys is throttled like a flood
from one client. A request without one (the signed webhook, health, metrics, the schema) is
limited per client address, by a bucket of its own.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from orchestrator.api.auth import key_hash, presented_key
from orchestrator.api.metrics import HEADERS_TOO_LARGE, RATE_LIMITED
from orchestrator.problems import send_problem

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


class Limits:
    """The ASGI layer around the API: the header cap, then the bucket of the request's API key
    (``keyed``) or, without one, of its client address (``anonymous``)."""

    def __init__(self, app: ASGIApp, keyed: TokenBucket, anonymous: TokenBucket) -> None:
        self.app = app
        self.keyed = keyed
        self.anonymous = anonymous

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        if sum(len(name) + len(value) for name, value in headers) > HEADER_LIMIT_BYTES:
            HEADERS_TOO_LARGE.inc()
            limit = f"all headers together may be at most {HEADER_LIMIT_BYTES} bytes"
            await send_problem(send, 431, "Request headers too large", limit)
            return
        authorization = next((v for n, v in headers if n == b"authorization"), None)
        key = presented_key(authorization.decode("latin-1")) if authorization else None
        if key is not None:
            bucket, name, who = self.keyed, f"key:{key_hash(key)}", "this API key"
        else:
            client = scope.get("client") or ("unknown", 0)
            bucket, name, who = self.anonymous, f"client:{client[0]}", "a client without a key"
        wait_s = bucket.take(name)
        if wait_s > 0:
            RATE_LIMITED.inc()
            retry = str(max(1, math.ceil(wait_s)))
            detail = (
                f"{who} may make {bucket.rate_per_s:g} requests/s (bursts of {bucket.burst});"
                f" retry in {retry}s"
            )
            await send_problem(
                send, 429, "Too many requests", detail, [(b"retry-after", retry.encode())]
            )
            return
        await self.app(scope, receive, send)
