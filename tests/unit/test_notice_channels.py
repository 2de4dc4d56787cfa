"""A notification service that refuses a channel: the simulator's 422 and its record, and the
activity's ``ChannelRefused`` (the saga then tries the other channel: the virtual explorer and
``scenarios/notify-channel-refused.yaml`` run that part)."""

from __future__ import annotations

from typing import Literal

import httpx
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from orchestrator.activities.notifications import CHANNEL_REFUSED, NotificationActivities
from orchestrator.models import NotificationRequest
from simulators.common import KnobBox
from simulators.notifications import NotificationKnobs, create_app


def service(refused: list[Literal["email", "sms"]]) -> httpx.AsyncClient:
    app = create_app(KnobBox(NotificationKnobs(refused_channels=refused)))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://notify")


def notice(channel: str) -> NotificationRequest:
    return NotificationRequest("n1", "p1", "alice", channel, "failed", "provider_declined")


async def test_the_service_refuses_its_channel_for_good_and_records_it() -> None:
    async with service(["sms"]) as client:
        body = {"payment_id": "p1", "user_id": "alice", "message": "m"}
        refused = await client.post(
            "/notifications", json={**body, "notification_id": "n1", "channel": "sms"}
        )
        assert refused.status_code == 422
        assert refused.json()["type"] == "urn:saga:problem:channel-unavailable"
        sent = await client.post(
            "/notifications", json={**body, "notification_id": "n1", "channel": "email"}
        )
        assert sent.status_code == 201
        record = (await client.get("/notifications")).json()
    assert [n["channel"] for n in record["sent"]] == ["email"]
    assert record["refused"] == [{"notification_id": "n1", "payment_id": "p1", "channel": "sms"}]


async def test_the_activity_reports_a_refused_channel_apart_from_other_refusals() -> None:
    async with service(["sms"]) as client:
        activities = NotificationActivities("http://notify", client)
        env = ActivityEnvironment()
        with pytest.raises(ApplicationError) as refused:
            await env.run(activities.send_notification, notice("sms"))
        assert refused.value.type == CHANNEL_REFUSED and refused.value.non_retryable
        result = await env.run(activities.send_notification, notice("email"))
        assert result.channel == "email"


async def test_a_refusal_that_is_not_about_the_channel_is_not_channel_refused() -> None:
    def invalid(request: httpx.Request) -> httpx.Response:
        return httpx.Response(422, json={"type": "urn:saga:problem:invalid-request"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(invalid)) as client:
        activities = NotificationActivities("http://notify", client)
        with pytest.raises(ApplicationError) as refused:
            await ActivityEnvironment().run(activities.send_notification, notice("sms"))
    assert refused.value.type == "NotificationRejected"
