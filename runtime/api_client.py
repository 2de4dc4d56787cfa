"""SagaClient: a small HTTP client of the payment API, used by the CLI, the demo, the harness and
the tests. The simulators' admin endpoints have their own client, :mod:`runtime.admin_client`."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx

from orchestrator.errors import ApiClientError
from orchestrator.models import PaymentState


class SagaClient:
    """Calls the API as one user (one bearer key)."""

    def __init__(self, base_url: str, api_key: str, *, timeout_s: float = 30.0) -> None:
        self.http = httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {api_key}"}, timeout=timeout_s
        )

    def close(self) -> None:
        """Release the connection pool."""
        self.http.close()

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
        response = self.http.post(
            "/payments",
            json={
                "user_id": user_id,
                "amount": amount,
                "payment_method": method,
                "currency": currency,
            },
            headers={"Idempotency-Key": idempotency_key or str(uuid.uuid4())},
        )
        return self._json(response)

    def status(self, payment_id: str) -> dict[str, Any]:
        """``GET /payments/{id}``."""
        return self._json(self.http.get(f"/payments/{payment_id}"))

    def cancel(self, payment_id: str) -> dict[str, Any]:
        """``POST /payments/{id}/cancel``."""
        return self._json(self.http.post(f"/payments/{payment_id}/cancel"))

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
