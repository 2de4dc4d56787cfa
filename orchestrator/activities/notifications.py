"""Notification service activity (task queue ``notifications``): email/SMS via the simulator."""

from __future__ import annotations

import uuid

import httpx
from temporalio import activity

from orchestrator.activities.http import post_json, refuse
from orchestrator.activities.metrics import NOTIFICATIONS
from orchestrator.models import NotificationRequest, NotificationResult
from orchestrator.problems import problem_type

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


#: The error type for a channel the notification service refuses: the saga tries the other one.
CHANNEL_REFUSED = "ChannelRefused"
#: The notification service's problem type for a channel it will not deliver on.
CHANNEL_UNAVAILABLE = problem_type("Channel unavailable")


def _problem_type(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return str(body.get("type")) if isinstance(body, dict) else None


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
            if response.status_code == 422 and _problem_type(response) == CHANNEL_UNAVAILABLE:
                raise refuse(f"the {request.channel} channel is refused (422)", CHANNEL_REFUSED)
            if response.status_code >= 400:
                raise refuse(
                    f"notification refused ({response.status_code})", "NotificationRejected"
                )
        except Exception:
            NOTIFICATIONS.labels(request.channel, "failed").inc()
            raise
        NOTIFICATIONS.labels(request.channel, "sent").inc()
        return NotificationResult(notification_id=request.notification_id, channel=request.channel)
