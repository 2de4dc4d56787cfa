"""Webhook signatures: valid, tampered, stale, malformed."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from orchestrator import signing

BODY = b'{"event_id":"evt_1","status":"succeeded"}'


def test_a_fresh_signature_verifies_and_gives_its_timestamp() -> None:
    assert signing.verify(["s3cret"], BODY, signing.sign("s3cret", BODY, 1000), now=1010) == 1000


# Headers are made when the test runs, not when it is collected: a suite can take longer than
# the 300 s tolerance, and a signature made at collection would then be stale.
@pytest.mark.parametrize(
    ("make_header", "body", "malformed"),
    [
        (lambda: None, BODY, True),
        (lambda: "garbage", BODY, True),
        (lambda: "t=notanint,v1=00", BODY, True),
        (lambda: signing.sign("s3cret", BODY, timestamp=1), BODY, False),  # stale: 401
        (lambda: signing.sign("other", BODY), BODY, False),  # wrong secret
        (lambda: signing.sign("s3cret", BODY), BODY + b" ", False),  # tampered body
    ],
    ids=["missing", "garbage", "bad-timestamp", "stale", "wrong-secret", "tampered-body"],
)
def test_bad_signatures_are_rejected(
    make_header: Callable[[], str | None], body: bytes, malformed: bool
) -> None:
    with pytest.raises(signing.SignatureError) as err:
        signing.verify(["s3cret"], body, make_header())
    assert err.value.malformed is malformed


def test_any_matching_v1_passes_so_a_secret_can_be_rotated() -> None:
    good = signing.sign("new", BODY)
    ts, mac = good.split(",")
    other = "v1=" + "0" * 64
    for header in (f"{ts},{other},{mac}", f"{ts},{mac},{other}"):
        signing.verify(["new"], BODY, header)


def test_during_a_rotation_both_secrets_are_accepted_and_no_other() -> None:
    for secret in ("old", "new"):
        signing.verify(["new", "old"], BODY, signing.sign(secret, BODY))
    with pytest.raises(signing.SignatureError, match="does not match"):
        signing.verify(["new", "old"], BODY, signing.sign("retired", BODY))


@pytest.mark.parametrize(
    "make_header",
    [
        lambda: f"t={10**400},v1=" + "0" * 64,  # would overflow a float
        lambda: f"t={int(__import__('time').time())},v1=é",  # not hex
        lambda: "t=1,t=2,v1=" + "0" * 64,  # two timestamps
    ],
    ids=["huge-timestamp", "non-hex-mac", "two-timestamps"],
)
def test_a_malformed_header_is_a_400_not_a_crash(make_header: Callable[[], str]) -> None:
    with pytest.raises(signing.SignatureError) as err:
        signing.verify(["s3cret"], BODY, make_header())
    assert err.value.malformed
