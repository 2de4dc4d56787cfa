"""Webhook signatures: valid, tampered, stale, malformed."""

from __future__ import annotations

import pytest

from orchestrator import signing

BODY = b'{"event_id":"evt_1","status":"succeeded"}'


def test_a_fresh_signature_verifies() -> None:
    signing.verify("s3cret", BODY, signing.sign("s3cret", BODY))


@pytest.mark.parametrize(
    ("header", "body", "malformed"),
    [
        (None, BODY, True),
        ("garbage", BODY, True),
        ("t=notanint,v1=00", BODY, True),
        (signing.sign("s3cret", BODY, timestamp=1), BODY, True),  # stale
        (signing.sign("other", BODY), BODY, False),  # wrong secret
        (signing.sign("s3cret", BODY), BODY + b" ", False),  # tampered body
    ],
)
def test_bad_signatures_are_rejected(header: str | None, body: bytes, malformed: bool) -> None:
    with pytest.raises(signing.SignatureError) as err:
        signing.verify("s3cret", body, header)
    assert err.value.malformed is malformed
