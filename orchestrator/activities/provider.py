"""Provider activities (task queue ``payments``): charge, void and refund at the provider."""

from __future__ import annotations

import httpx
from temporalio import activity

from orchestrator.activities.http import attempt, post_json, refuse
from orchestrator.models import (
    ChargeRefundRequest,
    ChargeRefundResult,
    ChargeRequest,
    ChargeResult,
    VoidRequest,
    VoidResult,
)

DECLINED = "ProviderDeclined"
VOID_REJECTED = "VoidRejected"
REFUND_REJECTED = "ChargeRefundRejected"


class ProviderActivities:
    """Calls the provider's HTTP API; the payment id is the idempotency key of every call."""

    def __init__(self, base_url: str, client: httpx.AsyncClient) -> None:
        self.base_url = base_url.rstrip("/")
        self.client = client

    @activity.defn
    async def charge_payment(self, request: ChargeRequest) -> ChargeResult:
        """Ask the provider to charge; it confirms later through the webhook."""
        response = await post_json(
            self.client,
            f"{self.base_url}/charges",
            {
                "payment_id": request.payment_id,
                "user_id": request.user_id,
                "amount": request.amount,
                "currency": request.currency,
                "payment_method": request.payment_method,
            },
            headers={"Idempotency-Key": request.payment_id},
        )
        if response.status_code == 402:
            raise refuse(f"provider declined: {response.text}", DECLINED)
        if response.status_code >= 400:
            raise refuse(
                f"provider refused ({response.status_code}): {response.text}", "ProviderRejected"
            )
        return ChargeResult(charge_id=response.json()["charge_id"], attempt=attempt())

    @activity.defn
    async def void_charge(self, request: VoidRequest) -> VoidResult:
        """Void whatever the provider holds under the payment's key (a no-op when nothing).

        A capture cannot be voided: the provider answers 409 and this raises the
        non-retryable ``VoidRejected``.
        """
        response = await post_json(
            self.client, f"{self.base_url}/charges/{request.payment_id}/void", {}
        )
        if response.status_code >= 400:
            raise refuse(f"void refused ({response.status_code}): {response.text}", VOID_REJECTED)
        return VoidResult(voided=bool(response.json()["voided"]))

    @activity.defn
    async def refund_charge(self, request: ChargeRefundRequest) -> ChargeRefundResult:
        """Give back a capture under the payment's key (a no-op when nothing was captured, or
        it was already given back). An authorization is not refunded but voided: the provider
        answers 409 and this raises the non-retryable ``ChargeRefundRejected``."""
        response = await post_json(
            self.client, f"{self.base_url}/charges/{request.payment_id}/refund", {}
        )
        if response.status_code >= 400:
            raise refuse(
                f"refund refused ({response.status_code}): {response.text}", REFUND_REJECTED
            )
        return ChargeRefundResult(refunded=bool(response.json()["refunded"]))
