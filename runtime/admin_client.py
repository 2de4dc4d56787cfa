"""The simulators' admin client: read and change their knobs, read the provider's charges."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from runtime.errors import ApiClientError


def patch_knobs(base_url: str, **changes: Any) -> dict[str, Any]:
    """Change a simulator's knobs at run time (``PATCH /admin/knobs``)."""
    response = httpx.patch(f"{base_url}/admin/knobs", json=changes, timeout=10)
    body: dict[str, Any] = response.json()
    if response.is_error:
        raise ApiClientError(response.status_code, body)
    return body


def read_knobs(base_url: str) -> dict[str, Any]:
    """A simulator's knobs now (``GET /admin/knobs``)."""
    response = httpx.get(f"{base_url}/admin/knobs", timeout=10)
    response.raise_for_status()
    knobs: dict[str, Any] = response.json()
    return knobs


def put_back_knobs(found: dict[str, dict[str, Any]]) -> None:
    """Set each simulator (admin URL) back to the knobs :func:`read_knobs` read."""
    for url, knobs in found.items():
        patch_knobs(url, **knobs)


def provider_charges(provider_url: str) -> list[dict[str, Any]]:
    """Every charge the provider holds (for the ledger check)."""
    charges: list[dict[str, Any]] = httpx.get(f"{provider_url}/charges", timeout=10).json()
    return charges


@contextmanager
def knobs_changed(base_url: str, **changes: Any) -> Iterator[None]:
    """Change some of a simulator's knobs for the duration of a block, then put them back."""
    before = patch_knobs(base_url)  # an empty patch reads the current knobs
    patch_knobs(base_url, **changes)
    try:
        yield
    finally:
        patch_knobs(base_url, **{key: before[key] for key in changes})
