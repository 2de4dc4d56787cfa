"""The history corpus: real PaymentWorkflow histories, recorded for the replay gate.

``saga histories record`` starts a stack, drives one payment per case below (some stopped
mid-flight, so their histories end before completion), and writes each history as JSON (the
format of ``temporal workflow show --output json`` and ``WorkflowHistory.to_json()``) plus a
``manifest.json`` naming each file's workflow id, which replay needs.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.config import StackConfig
from orchestrator.models import RetryOptions, SagaOptions
from orchestrator.temporal_client import connect
from runtime.admin_client import knobs_changed
from runtime.api_client import SagaClient
from runtime.embedded import EmbeddedStack, StackOptions

HISTORIES_DIR = Path(__file__).resolve().parent.parent / "tests" / "histories"


@dataclass(frozen=True)
class Recording:
    """One payment to record: its knobs, and where to cancel or stop it."""

    name: str
    user: str = "alice"
    amount: int = 1999
    knobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    cancel_at: str | None = None
    stop_at: str | None = None
    """Record at this step, mid-flight, instead of at the end."""


RECORDINGS = [
    Recording("happy-path"),
    Recording("insufficient-funds", user="dave", amount=10_000),
    Recording("provider-decline", knobs={"provider": {"decline_rate": 1.0}}),
    Recording("provider-retries", knobs={"provider": {"fail_first_attempts": 2}}),
    Recording("missing-callback", knobs={"provider": {"missing_callback_rate": 1.0}}),
    Recording(
        "fraud-reject",
        amount=7000,
        knobs={"fraud": {"amount_threshold": 5000}, "provider": {"callback_delay_ms": 800}},
    ),
    Recording(
        "cancel-mid-flight",
        knobs={"provider": {"callback_delay_ms": 60_000}},
        cancel_at="await_confirmation",
    ),
    Recording("notification-outage", knobs={"notify": {"failure_rate": 1.0}}),
    # The callback overtakes the charge call's answer: the saga holds it until the charge id
    # is known (hold-early-callbacks).
    Recording(
        "early-callback", knobs={"provider": {"callback_delay_ms": 0, "answer_delay_ms": 1500}}
    ),
    Recording(
        "midflight-await-confirmation",
        knobs={"provider": {"callback_delay_ms": 60_000}},
        stop_at="await_confirmation",
    ),
    Recording(
        "midflight-await-fraud", knobs={"fraud": {"delay_ms": 60_000}}, stop_at="await_fraud"
    ),
]

RECORDING_OPTIONS = SagaOptions(
    callback_timeout_s=2.0,
    notice_give_up_s=3.0,  # the notification outage's notice is given up, not retried for hours
    charge_retry=RetryOptions(initial_interval_s=0.2, maximum_interval_s=1.0, maximum_attempts=5),
)


def record_one(stack: EmbeddedStack, recording: Recording) -> tuple[str, dict[str, Any]]:
    """Drive one payment; returns its workflow id and final (or mid-flight) status."""
    config = stack.config
    assert config is not None
    urls = {
        "provider": config.admin_urls.provider,
        "fraud": config.admin_urls.fraud,
        "notify": config.admin_urls.notify,
    }
    client = SagaClient(config.api_url, stack.api_keys[recording.user])
    with ExitStack() as cleanup:
        cleanup.callback(client.close)
        for sim, knobs in recording.knobs.items():
            cleanup.enter_context(knobs_changed(urls[sim], **knobs))
        payment_id = client.pay(recording.user, recording.amount, "card")["payment_id"]
        if recording.stop_at:
            return payment_id, client.wait(payment_id, until=recording.stop_at)
        if recording.cancel_at:
            client.wait(payment_id, until=recording.cancel_at)
            client.cancel(payment_id)
        return payment_id, client.wait(payment_id)


async def _export(config: StackConfig, payment_id: str) -> str:
    client = await connect(config)
    return (await client.get_workflow_handle(payment_id).fetch_history()).to_json()


def record_histories(out_dir: Path, state_dir: Path, out: Callable[[str], None] = print) -> Path:
    """Record every case into ``out_dir``; returns the manifest's path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, dict[str, Any]] = {}
    options = StackOptions(state_dir=state_dir, saga=RECORDING_OPTIONS, ui=False, toxiproxy="off")
    with EmbeddedStack(options) as stack:
        assert stack.config is not None
        for recording in RECORDINGS:
            payment_id, status = record_one(stack, recording)
            history = asyncio.run(_export(stack.config, payment_id))
            (out_dir / f"{recording.name}.json").write_text(history)
            manifest[recording.name] = {
                "workflow_id": payment_id,
                "state": status["state"],
                "step": status["step"],
                "complete": recording.stop_at is None,
            }
            out(f"  {recording.name}: {status['state']}/{status['step']} ({payment_id})")
    path = out_dir / "manifest.json"
    path.write_text(json.dumps(manifest, indent=2) + "\n")
    return path
