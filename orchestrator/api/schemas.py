"""Request and response bodies of the API (msgspec Structs; unknown request fields are errors)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec


class Strict(msgspec.Struct, forbid_unknown_fields=True):
    """Base of request bodies."""


class PaymentCreate(Strict, kw_only=True):
    """``POST /payments``."""

    user_id: (
        Annotated[
            str,
            msgspec.Meta(
                min_length=1,
                max_length=64,
                description="the API key's user (the default); another user is a 403",
            ),
        ]
        | None
    ) = None
    amount: Annotated[
        int,
        msgspec.Meta(
            gt=0, le=2**53 - 1, description="integer minor units, e.g. cents (a JSON integer)"
        ),
    ]
    payment_method: Literal["card", "bank_transfer", "wallet"]
    currency: Annotated[str, msgspec.Meta(pattern="^[A-Z]{3}$")] = "USD"


class PaymentAccepted(msgspec.Struct, kw_only=True):
    """Answer of ``POST /payments``: ``created`` is false for a replayed idempotent request."""

    payment_id: str
    status_url: str
    created: bool


class FraudView(msgspec.Struct, kw_only=True):
    """The fraud verdict."""

    passed: bool
    score: float
    reasons: list[str]


class TimelineItem(msgspec.Struct, kw_only=True):
    """One step of a payment's timeline."""

    at: str
    event: str
    detail: str


class PaymentView(msgspec.Struct, kw_only=True):
    """``GET /payments/{id}``: the workflow's ``status`` query."""

    payment_id: str
    user_id: str
    amount: int
    currency: str
    payment_method: str
    state: Literal["pending", "processing", "succeeded", "failed", "cancelled"]
    step: str
    provider_attempts: int
    charge_id: str | None
    fraud: FraudView | None
    reason: str | None
    compensations: list[str]
    notification: str | None
    timeline: list[TimelineItem]


class PaymentStateView(msgspec.Struct, kw_only=True):
    """A payment's state without its details, for pollers: served by the Temporal server alone."""

    payment_id: str
    state: Literal["pending", "processing", "succeeded", "failed", "cancelled"]
    done: bool
    """The saga has ended (terminal and notified): the full view will not change again."""


class CancelAccepted(msgspec.Struct, kw_only=True):
    """Answer of ``POST /payments/{id}/cancel``."""

    payment_id: str
    cancel_requested: bool


class GatewayEvent(Strict):
    """A provider callback, after its signature was verified."""

    event_id: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    type: Literal["charge.succeeded", "charge.declined"]
    """Must agree with ``status`` (checked by the webhook guard)."""
    payment_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    charge_id: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    status: Literal["succeeded", "declined"]


class WebhookAck(msgspec.Struct, kw_only=True):
    """Answer to the provider: ``delivered`` or ``ignored`` (with why)."""

    result: Literal["delivered", "ignored"]
    reason: str | None = None
