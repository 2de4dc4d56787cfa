"""The notification provider: ``python -m simulators.notifications --port P``.

``POST /notifications`` records an email or SMS (idempotent by ``notification_id``);
``GET /notifications[?payment_id=]`` lists them, and the messages it refused. ``failure_rate``
makes it answer 503; ``refused_channels`` makes it refuse a channel for good (422).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Annotated, Any, Literal

import msgspec
from litestar import Litestar, Response, get, post

from orchestrator.problems import problem_response
from simulators.common import (
    KnobBox,
    Knobs,
    NonNegative,
    Rate,
    admin_handlers,
    run_simulator,
)
from simulators.metrics import SIM_NOTIFICATIONS


class NotificationKnobs(Knobs):
    """How the notification provider misbehaves."""

    failure_rate: Annotated[float, Rate] = 0.0
    """Share of messages refused with a 503 (the saga retries, then records the failure)."""
    latency_ms: Annotated[int, NonNegative] = 0
    """Added to every message."""
    refused_channels: list[Literal["email", "sms"]] = []
    """Channels it will not deliver on: a message by one is refused with a 422 (problem type
    ``urn:saga:problem:channel-unavailable``) and recorded as refused. The saga sends the
    notice by the other channel (``notice-channel-fallback``)."""


class NotificationBody(msgspec.Struct, forbid_unknown_fields=True):
    """One email or SMS."""

    notification_id: str
    payment_id: str
    user_id: str
    channel: Literal["email", "sms"]
    message: str


def create_app(box: KnobBox[NotificationKnobs]) -> Litestar:
    """The notification app; its outbox lives in memory for the life of the process."""
    outbox: dict[str, NotificationBody] = {}
    failures: list[str] = []
    refused: list[dict[str, str]] = []

    @post("/notifications", status_code=201)
    async def send(data: NotificationBody) -> Response[Any]:
        await asyncio.sleep(box.knobs.latency_ms / 1000)
        if data.channel in box.knobs.refused_channels:
            refused.append(
                {
                    "notification_id": data.notification_id,
                    "payment_id": data.payment_id,
                    "channel": data.channel,
                }
            )
            SIM_NOTIFICATIONS.labels(data.channel, "refused").inc()
            return problem_response(
                422, "Channel unavailable", f"this service does not deliver by {data.channel}"
            )
        if box.chance(box.knobs.failure_rate):
            failures.append(data.notification_id)
            SIM_NOTIFICATIONS.labels(data.channel, "failed").inc()
            return problem_response(503, "Notifications unavailable", "injected failure")
        outbox.setdefault(data.notification_id, data)
        SIM_NOTIFICATIONS.labels(data.channel, "sent").inc()
        return Response({"notification_id": data.notification_id}, status_code=201)

    @get("/notifications", sync_to_thread=False)
    def list_sent(payment_id: str | None = None) -> dict[str, Any]:
        sent = [
            msgspec.to_builtins(n)
            for n in outbox.values()
            if payment_id is None or n.payment_id == payment_id
        ]
        refusals = [r for r in refused if payment_id is None or r["payment_id"] == payment_id]
        return {"sent": sent, "failed_attempts": len(failures), "refused": refusals}

    return Litestar([send, list_sent, *admin_handlers(box)])


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the notification process."""
    run_simulator("python -m simulators.notifications", NotificationKnobs, create_app, argv)


if __name__ == "__main__":
    main()
