"""SagaClient: a small HTTP client of the payment API, used by the CLI, the demo, the harness and
the tests. The simulators' admin endpoints have their own client, :mod:`runtime.admin_client`."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx

from orchestrator.models import PaymentState
from runtime.errors import ApiClientError

#: How long in all a call waits out ``429 Too Many Requests`` answers before it gives up.
THROTTLED_WAIT_S = 30.0


class SagaClient:
    """Calls the API as one user (one bearer key). A ``429`` is waited out as its
    ``Retry-After`` says (every call is safe to repeat: a payment carries its idempotency key),
    up to :data:`THROTTLED_WAIT_S` in all."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout_s: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.http = httpx.Client(
            base_url=base_url,
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=timeout_s,
            transport=transport,
        )

    def close(self) -> None:
        """Release the connection pool."""
        self.http.close()

    def _call(self, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        deadline = time.monotonic() + THROTTLED_WAIT_S
        while True:
            response = self.http.request(method, url, **kwargs)
            if response.status_code != 429:
                return self._json(response)
            wait_s = _retry_after_s(response)
            if time.monotonic() + wait_s > deadline:
                return self._json(response)
            time.sleep(wait_s)

    def _json(self, response: httpx.Response) -> dict[str, Any]:
        body: dict[str, Any] = response.json() if response.content else {}
        if response.is_error:
            raise ApiClientError(response.status_code, body)
        return body

    def pay(
        self,
        user_id: str,
        amount: int,
        method: str,
        *,
        currency: str = "USD",
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """``POST /payments``; a fresh idempotency key unless one is given."""
        return self._call(
            "POST",
            "/payments",
            json={
                "user_id": user_id,
                "amount": amount,
                "payment_method": method,
                "currency": currency,
            },
            headers={"Idempotency-Key": idempotency_key or str(uuid.uuid4())},
        )

    def status(self, payment_id: str, wait_s: float = 0.0) -> dict[str, Any]:
        """``GET /payments/{id}``; with ``wait_s``, ``?wait=``: held while the payment runs,
        at most that long (the API's bound is 20 s)."""
        params = {"wait": f"{wait_s:g}"} if wait_s else None
        return self._call("GET", f"/payments/{payment_id}", params=params)

    def cancel(self, payment_id: str) -> dict[str, Any]:
        """``POST /payments/{id}/cancel``."""
        return self._call("POST", f"/payments/{payment_id}/cancel")

    def wait(
        self, payment_id: str, *, timeout_s: float = 60.0, until: str | None = None
    ) -> dict[str, Any]:
        """Poll until the saga is done (terminal and notified), or its step is ``until``."""
        deadline = time.monotonic() + timeout_s
        while True:
            status = self.status(payment_id)
            done = PaymentState(status["state"]).terminal and status["step"] == "done"
            if (until and status["step"] == until) or done:
                return status
            if time.monotonic() > deadline:
                raise TimeoutError(f"{payment_id} still {status['state']}/{status['step']}")
            time.sleep(0.1)


def _retry_after_s(response: httpx.Response) -> float:
    """The answer's ``Retry-After`` in seconds (the API sends whole seconds; 1 if absent)."""
    try:
        return max(0.0, float(response.headers.get("Retry-After", "1")))
    except ValueError:
        return 1.0
