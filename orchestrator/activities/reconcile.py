"""Reconciler activities (task queue ``payments``): what the provider and Temporal know.

The ledger side lives with the account service (:mod:`orchestrator.activities.accounts`); these
read the provider's charges and the payments' executions, for :class:`ReconcileWorkflow`.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from temporalio import activity
from temporalio.client import Client
from temporalio.common import SearchAttributeKey
from temporalio.service import RPCError, RPCStatusCode

from orchestrator.config import StackConfig
from orchestrator.models import ExecutionFacts, ProviderCharge
from orchestrator.temporal_client import connect

PAYMENT_STATUS = SearchAttributeKey.for_keyword("PaymentStatus")
#: Most undecided executions one pass reads (the rest wait for the next: a result stays far
#: below Temporal's payload limit).
UNDECIDED_LIMIT = 500


def _charge(body: dict[str, Any]) -> ProviderCharge:
    return ProviderCharge(body["payment_id"], body["charge_id"], body["amount"], body["status"])


class ReconcileActivities:
    """Reads for the reconciler; the Temporal client is opened on first use."""

    def __init__(self, config: StackConfig, http: httpx.AsyncClient) -> None:
        self.config = config
        self.http = http
        self._client: Client | None = None

    async def _temporal(self) -> Client:
        if self._client is None:
            self._client = await connect(self.config)
        return self._client

    @activity.defn
    async def list_provider_charges(self) -> list[ProviderCharge]:
        """Every charge the provider holds."""
        response = await self.http.get(f"{self.config.urls.provider.rstrip('/')}/charges")
        response.raise_for_status()
        return [_charge(c) for c in response.json()]

    @activity.defn
    async def read_provider_charges(self, payment_ids: list[str]) -> list[ProviderCharge]:
        """The provider's charge of each of these payments, where it holds one (a charge's
        idempotency key is its payment id)."""
        base = self.config.urls.provider.rstrip("/")
        limit = asyncio.Semaphore(16)

        async def one(payment_id: str) -> ProviderCharge | None:
            async with limit:
                response = await self.http.get(f"{base}/charges/{payment_id}")
            if response.status_code == 404:
                return None
            response.raise_for_status()
            return _charge(response.json())

        found = await asyncio.gather(*(one(p) for p in payment_ids))
        return [c for c in found if c is not None]

    @activity.defn
    async def describe_executions(self, payment_ids: list[str]) -> list[ExecutionFacts]:
        """Close status and ``PaymentStatus`` of each payment's workflow execution."""
        client = await self._temporal()
        limit = asyncio.Semaphore(16)

        async def one(payment_id: str) -> ExecutionFacts:
            async with limit:
                try:
                    description = await client.get_workflow_handle(payment_id).describe()
                except RPCError as exc:
                    if exc.status is RPCStatusCode.NOT_FOUND:
                        return ExecutionFacts(payment_id, "NOT_FOUND", None)
                    raise
            status = description.status.name if description.status else "UNKNOWN"
            state = description.typed_search_attributes.get(PAYMENT_STATUS)
            closed = description.close_time
            return ExecutionFacts(payment_id, status, state, closed.isoformat() if closed else None)

        return list(await asyncio.gather(*(one(p) for p in payment_ids)))

    @activity.defn
    async def list_undecided_executions(self, since: str) -> list[ExecutionFacts]:
        """Payment executions closed since ``since`` (ISO 8601) without their saga finishing
        (terminated, timed out, cancelled or failed: undecided, or decided and cut short
        before its notice), with their user from the memo; at most :data:`UNDECIDED_LIMIT`."""
        client = await self._temporal()
        query = (
            "WorkflowType = 'PaymentWorkflow'"
            " AND (ExecutionStatus = 'Terminated' OR ExecutionStatus = 'TimedOut'"
            " OR ExecutionStatus = 'Canceled' OR ExecutionStatus = 'Failed')"
            f" AND CloseTime > '{since}'"
        )
        found = []
        async for execution in client.list_workflows(query):
            user = await execution.memo_value("user_id", default=None)
            closed = execution.close_time
            found.append(
                ExecutionFacts(
                    execution.id,
                    execution.status.name if execution.status else "UNKNOWN",
                    execution.typed_search_attributes.get(PAYMENT_STATUS),
                    closed.isoformat() if closed else None,
                    user if isinstance(user, str) else None,
                )
            )
            if len(found) >= UNDECIDED_LIMIT:
                break
        return found
