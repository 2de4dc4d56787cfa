"""The simulators' admin client: read and change their knobs, read their evidence (the
provider's charges, the notices sent, requests served).

Where the simulators guard these with a token (a deployment: docker-compose.yml sets
``SAGA_ADMIN_TOKEN``), the harness sends the same one, from its environment or the compose
project's ``.env`` (:func:`runtime.compose.take_dotenv`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from orchestrator.secrets import ADMIN_TOKEN_ENV, secret_from_env
from runtime.errors import ApiClientError


def admin_headers() -> dict[str, str]:
    """The bearer token the simulators' admin surfaces ask for, when one is set."""
    token = secret_from_env(ADMIN_TOKEN_ENV, os.environ)
    return {"Authorization": f"Bearer {token}"} if token else {}


def admin_get(url: str, timeout_s: float = 10) -> Any:
    """``GET`` an admin or evidence URL of a simulator; its JSON (an error status raises)."""
    response = httpx.get(url, headers=admin_headers(), timeout=timeout_s)
    response.raise_for_status()
    return response.json()


def patch_knobs(base_url: str, **changes: Any) -> dict[str, Any]:
    """Change a simulator's knobs at run time (``PATCH /admin/knobs``)."""
    response = httpx.patch(
        f"{base_url}/admin/knobs", json=changes, headers=admin_headers(), timeout=10
    )
    body: dict[str, Any] = response.json()
    if response.is_error:
        raise ApiClientError(response.status_code, body)
    return body


def read_knobs(base_url: str) -> dict[str, Any]:
    """A simulator's knobs now (``GET /admin/knobs``)."""
    knobs: dict[str, Any] = admin_get(f"{base_url}/admin/knobs")
    return knobs


def put_back_knobs(found: dict[str, dict[str, Any]]) -> None:
    """Set each simulator (admin URL) back to the knobs :func:`read_knobs` read."""
    for url, knobs in found.items():
        patch_knobs(url, **knobs)


def provider_charges(provider_url: str) -> list[dict[str, Any]]:
    """Every charge the provider holds (for the ledger check)."""
    charges: list[dict[str, Any]] = admin_get(f"{provider_url}/charges")
    return charges


def notices_sent(notify_url: str) -> list[dict[str, Any]]:
    """Every notice the notification service delivered."""
    sent: list[dict[str, Any]] = admin_get(f"{notify_url}/notifications")["sent"]
    return sent


def notices_refused(notify_url: str) -> list[dict[str, Any]]:
    """Every message the notification service refused for its channel (``refused_channels``):
    ``notification_id``, ``payment_id``, ``channel``."""
    refused: list[dict[str, Any]] = admin_get(f"{notify_url}/notifications").get("refused", [])
    return refused


def served(admin_url: str) -> int:
    """Business requests a simulator has answered so far."""
    return int(admin_get(f"{admin_url}/admin/stats", timeout_s=5)["served"])


@contextmanager
def knobs_changed(base_url: str, **changes: Any) -> Iterator[None]:
    """Change some of a simulator's knobs for the duration of a block, then put them back."""
    before = patch_knobs(base_url)  # an empty patch reads the current knobs
    patch_knobs(base_url, **changes)
    try:
        yield
    finally:
        patch_knobs(base_url, **{key: before[key] for key in changes})
