"""SagaClient waits out the API's 429s as Retry-After says, and gives up after its budget."""

from __future__ import annotations

import httpx
import pytest

from runtime import api_client
from runtime.api_client import SagaClient
from runtime.errors import ApiClientError

THROTTLED = {"title": "Too Many Requests", "status": 429}


def client_answering(answers: list[httpx.Response], seen: list[httpx.Request]) -> SagaClient:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answers.pop(0)

    return SagaClient("http://api.test", "sk", transport=httpx.MockTransport(handle))


def test_a_throttled_call_is_repeated_after_retry_after() -> None:
    seen: list[httpx.Request] = []
    client = client_answering(
        [
            httpx.Response(429, json=THROTTLED, headers={"Retry-After": "0"}),
            httpx.Response(202, json={"payment_id": "pay_1"}),
        ],
        seen,
    )
    assert client.pay("alice", 100, "card", idempotency_key="k1") == {"payment_id": "pay_1"}
    # The same payment both times: its idempotency key makes the repeat safe.
    assert [r.headers["Idempotency-Key"] for r in seen] == ["k1", "k1"]


def test_throttling_longer_than_the_budget_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(api_client, "THROTTLED_WAIT_S", 0.5)
    seen: list[httpx.Request] = []
    client = client_answering(
        [httpx.Response(429, json=THROTTLED, headers={"Retry-After": "1"})], seen
    )
    with pytest.raises(ApiClientError) as raised:
        client.status("pay_1")
    assert raised.value.status == 429 and len(seen) == 1
