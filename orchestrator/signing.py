"""Stripe-style webhook signatures: ``Saga-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>``.

The MAC covers ``f"{t}.".encode() + body`` with a shared secret. The timestamp bounds replay:
a signature older (or further in the future) than the tolerance is rejected.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Sequence

SIGNATURE_HEADER = "Saga-Signature"
DEFAULT_TOLERANCE_S = 300
SIGNATURE_FORMAT = re.compile(r"^t=[0-9]{1,12}(,v1=[0-9a-f]{64})+$")
"""The whole header: one timestamp, then one or more MACs (several during a secret rotation)."""


class SignatureError(Exception):
    """A webhook signature is missing, malformed, stale or wrong.

    ``malformed`` distinguishes a request that cannot be checked (HTTP 400) from one whose
    signature does not match or is stale (HTTP 401).
    """

    def __init__(self, message: str, *, malformed: bool) -> None:
        super().__init__(message)
        self.malformed = malformed


def _mac(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The header value that signs ``body`` now (or at ``timestamp``)."""
    ts = int(time.time()) if timestamp is None else timestamp
    return f"t={ts},v1={_mac(secret, ts, body)}"


def verify(
    secrets: Sequence[str],
    body: bytes,
    header: str | None,
    *,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> int:
    """The signature's timestamp if ``header`` is a fresh, valid signature of ``body`` under one
    of ``secrets`` (more than one while a rotation is under way); :class:`SignatureError` if not."""
    if not header:
        raise SignatureError(f"missing {SIGNATURE_HEADER} header", malformed=True)
    if not SIGNATURE_FORMAT.fullmatch(header):
        raise SignatureError(
            f"{SIGNATURE_HEADER} must be 't=<unix seconds>,v1=<64 hex digits>[,v1=...]'",
            malformed=True,
        )
    stamp, *macs = header.split(",")
    ts = int(stamp.removeprefix("t="))
    given = [mac.removeprefix("v1=") for mac in macs]
    current = time.time() if now is None else now
    if abs(current - ts) > tolerance_s:
        # Well formed but not acceptable: an authentication failure, like a wrong MAC.
        raise SignatureError(
            f"signature timestamp outside {tolerance_s}s tolerance", malformed=False
        )
    expected = [_mac(secret, ts, body) for secret in secrets]
    # Any matching v1 passes: a sender may sign with an old and a new secret during a rotation.
    if not any(hmac.compare_digest(e, v) for e in expected for v in given):
        raise SignatureError("signature does not match", malformed=False)
    return ts
