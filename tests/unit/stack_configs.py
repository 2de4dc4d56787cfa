"""A stack config for tests that need one but start nothing: every address unreachable."""

from __future__ import annotations

from secrets import token_hex
from typing import Any

from orchestrator.config import ServiceUrls, StackConfig

URLS = ServiceUrls("http://p", "http://f", "http://n")


def unreachable_config(**fields: Any) -> StackConfig:
    """A valid config whose services are nowhere; ``fields`` override any of its fields."""
    base: dict[str, Any] = {
        "temporal_address": "127.0.0.1:1",
        "api_port": 1,
        "urls": URLS,
        "admin_urls": URLS,
        "worker_temporal_address": "127.0.0.1:1",
        "callback_url": "http://a/webhooks/gateway",
        "webhook_secret": token_hex(16),
        "payment_id_secret": token_hex(16),
        "ledger_path": "/nonexistent/ledger.db",
        "api_keys_path": "/nonexistent/keys.json",
        "state_dir": "/nonexistent",
    }
    return StackConfig(**(base | fields))
