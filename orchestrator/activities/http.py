"""The one place activities turn HTTP outcomes into Temporal errors.

Transient failures (5xx, timeouts, connection errors) become retryable ``ApplicationError``s;
business refusals become non-retryable ones. ``details[0]`` carries the activity attempt so the
workflow can report how many attempts a step took even when it finally failed.
"""

from __future__ import annotations

from typing import Any

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

TRANSIENT = "ProviderUnavailable"


def attempt() -> int:
    """The current activity attempt (1-based)."""
    return activity.info().attempt


#: The kinds of transient failure :func:`post_json` raises (``details[1]`` of its errors).
TRANSIENT_KINDS = ("timeout", "connection", "http_5xx")


async def post_json(
    client: httpx.AsyncClient, url: str, body: dict[str, Any], headers: dict[str, str] | None = None
) -> httpx.Response:
    """POST JSON; transport failures and 5xx raise a retryable error tagged with the attempt."""
    try:
        response = await client.post(url, json=body, headers=headers)
    except httpx.TimeoutException as exc:
        raise ApplicationError(
            f"timeout calling {url}", attempt(), "timeout", type=TRANSIENT
        ) from exc
    except httpx.TransportError as exc:
        raise ApplicationError(
            f"connection error calling {url}: {exc!r}", attempt(), "connection", type=TRANSIENT
        ) from exc
    if response.status_code >= 500:
        raise ApplicationError(
            f"{url} answered {response.status_code}", attempt(), "http_5xx", type=TRANSIENT
        )
    return response


def refuse(message: str, error_type: str) -> ApplicationError:
    """A non-retryable business refusal tagged with the attempt."""
    return ApplicationError(message, attempt(), error_type, type=error_type, non_retryable=True)
