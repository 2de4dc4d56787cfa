"""Notification service activity (task queue ``notifications``): email/SMS via the simulator."""

from __future__ import annotations

import uuid

import httpx
from temporalio import activity

from orchestrator.activities.http import post_json, refuse
from orchestrator.activities.metrics import NOTIFICATIONS
from orchestrator.models import NotificationRequest, NotificationResult

#: Names the reconciler's notices (:func:`repair_notice_id`).
REPAIR_NOTICE_NAMESPACE = uuid.UUID("5a6a0000-0000-4000-8000-00000000a1e7")


def repair_notice_id(payment_id: str) -> str:
    """The id of the notice the reconciler sends for a payment whose execution ended undecided:
    the same for every pass (``uuid5``, no randomness), so a pass retried sends the same one."""
    return str(uuid.uuid5(REPAIR_NOTICE_NAMESPACE, payment_id))


def notification_message(request: NotificationRequest) -> str:
    """What the user reads: the payment's id, its terminal state and why."""
    message = f"Your payment {request.payment_id} is {request.state}"
    return f"{message} ({request.reason})" if request.reason else message


class NotificationActivities:
    """Sends one notification; the notification id makes a retried send idempotent."""

    def __init__(self, base_url: str, client: httpx.AsyncClient) -> None:
        self.base_url = base_url.rstrip("/")
        self.client = client

    @activity.defn
    async def send_notification(self, request: NotificationRequest) -> NotificationResult:
        """Deliver the message for a payment's terminal state."""
        message = notification_message(request)
        try:
            response = await post_json(
                self.client,
                f"{self.base_url}/notifications",
                {
                    "notification_id": request.notification_id,
                    "payment_id": request.payment_id,
                    "user_id": request.user_id,
                    "channel": request.channel,
                    "message": message,
                },
            )
            if response.status_code >= 400:
                raise refuse(
                    f"notification refused ({response.status_code})", "NotificationRejected"
                )
        except Exception:
            NOTIFICATIONS.labels(request.channel, "failed").inc()
            raise
        NOTIFICATIONS.labels(request.channel, "sent").inc()
        return NotificationResult(notification_id=request.notification_id, channel=request.channel)
