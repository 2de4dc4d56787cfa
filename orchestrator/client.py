"""SagaClient: a small HTTP client of the API, used by the CLI, the demo and the tests."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
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


def patch_knobs(base_url: str, **changes: Any) -> dict[str, Any]:
    """Change a simulator's knobs at run time (``PATCH /admin/knobs``)."""
    response = httpx.patch(f"{base_url}/admin/knobs", json=changes, timeout=10)
    body: dict[str, Any] = response.json()
    if response.is_error:
        raise ApiClientError(response.status_code, body)
    return body


def provider_charges(provider_url: str) -> list[dict[str, Any]]:
    """Every charge the provider holds (for the ledger check)."""
    charges: list[dict[str, Any]] = httpx.get(f"{provider_url}/charges", timeout=10).json()
    return charges


@contextmanager
def knobs_changed(base_url: str, **changes: Any) -> Iterator[None]:
    """Change some of a simulator's knobs for the duration of a block, then put them back."""
    before = patch_knobs(base_url)  # an empty patch reads the current knobs
    patch_knobs(base_url, **changes)
    try:
        yield
    finally:
        patch_knobs(base_url, **{key: before[key] for key in changes})
