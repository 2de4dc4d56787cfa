"""Fraud service activity (task queue ``fraud``): score a payment at the fraud simulator."""

from __future__ import annotations

import httpx
from temporalio import activity

from orchestrator.activities.http import post_json, refuse
from orchestrator.models import FraudCheckRequest, FraudVerdict


class FraudActivities:
    """Calls the fraud scoring service."""

    def __init__(self, base_url: str, client: httpx.AsyncClient) -> None:
        self.base_url = base_url.rstrip("/")
        self.client = client

    @activity.defn
    async def score_payment(self, request: FraudCheckRequest) -> FraudVerdict:
        """The scoring service's verdict on one payment."""
        response = await post_json(
            self.client,
            f"{self.base_url}/score",
            {
                "payment_id": request.payment_id,
                "user_id": request.user_id,
                "amount": request.amount,
                "payment_method": request.payment_method,
            },
        )
        if response.status_code >= 400:
            raise refuse(f"scoring refused ({response.status_code})", "FraudRequestRejected")
        body = response.json()
        return FraudVerdict(
            passed=body["verdict"] == "pass", score=float(body["score"]), reasons=body["reasons"]
        )
