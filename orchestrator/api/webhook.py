"""The provider's signed callback: checked before its handler, replays dropped before the saga.

``POST /webhooks/gateway`` runs :func:`guard_webhook` first: the ``Saga-Signature`` over the raw
body (400 malformed, 401 wrong or stale), then the body, strictly (400 malformed JSON, 422 a
wrong field). The handler then claims the delivery in the :class:`ReplayGuard` and signals.
"""

from __future__ import annotations

from typing import Any

from litestar import Request

from orchestrator import signing
from orchestrator.api.errors import BadSignature, InvalidField, MalformedBody
from orchestrator.api.metrics import CALLBACKS_RECEIVED
from orchestrator.api.replays import Delivery, ReplayGuard
from orchestrator.api.schemas import GatewayEvent, WebhookAck
from orchestrator.api.service import PaymentService
from orchestrator.api.strict_body import decode_strict
from orchestrator.config import StackConfig


async def guard_webhook(request: Request[Any, Any, Any]) -> None:
    """Litestar ``before_request``: the signature, then the body; keeps the signature's
    timestamp in ``request.state`` for the replay check."""
    body = await request.body()
    config: StackConfig = request.app.state.config
    try:
        request.state.signed_at = signing.verify(
            [config.webhook_secret, *config.webhook_previous_secrets],
            body,
            request.headers.get(signing.SIGNATURE_HEADER),
        )
    except signing.SignatureError as exc:
        CALLBACKS_RECEIVED.labels("rejected_signature").inc()
        raise BadSignature(str(exc), malformed=exc.malformed) from exc
    try:
        event = decode_strict(body, GatewayEvent)
        if event.type != f"charge.{event.status}":
            raise InvalidField(f"{event.type} does not agree with status {event.status}", "type")
    except (MalformedBody, InvalidField):
        CALLBACKS_RECEIVED.labels("rejected_payload").inc()
        raise


async def deliver(
    service: PaymentService, replays: ReplayGuard, event: GatewayEvent, signed_at: int
) -> WebhookAck:
    """Signal the saga once per delivery; a replay is acknowledged and dropped, and a delivery
    whose signal failed is forgotten so the provider's retry gets through."""
    delivery: Delivery = (event.event_id, signed_at)
    if not replays.claim(delivery):
        CALLBACKS_RECEIVED.labels("replayed").inc()
        return WebhookAck(result="ignored", reason="a replay of a delivery already taken")
    try:
        return await service.confirm(event)
    except BaseException:
        replays.release(delivery)
        raise
