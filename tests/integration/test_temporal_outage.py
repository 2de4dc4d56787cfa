"""A Temporal outage: the API answers 503 with Retry-After, then everything resumes.

Runs after the other integration tests of the shared stack (file order) because it stops the
dev server; it restarts it on the same SQLite file before it ends, on every path.
"""

from __future__ import annotations

import httpx
import pytest

from runtime.embedded import EmbeddedStack
from tests.integration.conftest import Payments

pytestmark = pytest.mark.integration


def test_api_answers_503_while_temporal_is_down_and_recovers(
    stack: EmbeddedStack, payments: Payments
) -> None:
    assert stack.config
    in_flight = payments.pay("alice", 1500)  # started before the outage, finishes after it
    temporal = stack.processes["temporal"]
    temporal.stop()
    try:
        response = httpx.post(
            f"{stack.config.api_url}/payments",
            json={"user_id": "alice", "amount": 100, "payment_method": "card"},
            headers={
                "Authorization": f"Bearer {stack.api_keys['alice']}",
                "Idempotency-Key": "during-outage",
            },
            timeout=60,
        )
    finally:
        temporal.start()
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "5"
    assert response.headers["content-type"].startswith("application/problem+json")
    assert payments.finish("alice", in_flight, timeout_s=90)["state"] == "succeeded"
    after = payments.pay("alice", 100, idempotency_key="during-outage")  # the retry now lands
    assert payments.finish("alice", after, timeout_s=90)["state"] == "succeeded"
