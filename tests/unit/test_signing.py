"""Webhook signatures: valid, tampered, stale, malformed."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from orchestrator import signing

BODY = b'{"event_id":"evt_1","status":"succeeded"}'


def test_a_fresh_signature_verifies() -> None:
    signing.verify("s3cret", BODY, signing.sign("s3cret", BODY))


# Headers are made when the test runs, not when it is collected: a suite can take longer than
# the 300 s tolerance, and a signature made at collection would then be stale.
@pytest.mark.parametrize(
    ("make_header", "body", "malformed"),
    [
        (lambda: None, BODY, True),
        (lambda: "garbage", BODY, True),
        (lambda: "t=notanint,v1=00", BODY, True),
        (lambda: signing.sign("s3cret", BODY, timestamp=1), BODY, True),  # stale
        (lambda: signing.sign("other", BODY), BODY, False),  # wrong secret
        (lambda: signing.sign("s3cret", BODY), BODY + b" ", False),  # tampered body
    ],
    ids=["missing", "garbage", "bad-timestamp", "stale", "wrong-secret", "tampered-body"],
)
def test_bad_signatures_are_rejected(
    make_header: Callable[[], str | None], body: bytes, malformed: bool
) -> None:
    with pytest.raises(signing.SignatureError) as err:
        signing.verify("s3cret", body, make_header())
    assert err.value.malformed is malformed
