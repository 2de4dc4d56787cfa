"""The saga through the real API, dev server, simulators and ledger."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time
from datetime import datetime
from secrets import token_hex
from typing import Any

import httpx
import msgspec
import pytest
from temporalio.client import WorkflowExecutionStatus

from orchestrator import signing
from orchestrator.ledger import Ledger
from orchestrator.temporal_client import connect
from runtime.admin_client import patch_knobs
from runtime.embedded import EmbeddedStack
from runtime.errors import ApiClientError
from runtime.processes import process_pids
from tests.binaries import find_binary
from tests.integration.conftest import Payments

pytestmark = pytest.mark.integration


def entries_of(stack: EmbeddedStack, payment_id: str) -> list[str]:
    assert stack.config is not None
    return [
        e.kind for e in Ledger(stack.config.ledger_path).entries() if e.payment_id == payment_id
    ]


def test_happy_path(stack: EmbeddedStack, payments: Payments) -> None:
    payment_id = payments.pay("alice", 1999)
    status = payments.finish("alice", payment_id)
    assert (status["state"], status["reason"], status["compensations"]) == ("succeeded", None, [])
    assert status["fraud"]["passed"] and status["notification"].startswith("sent:")
    assert entries_of(stack, payment_id) == ["debit"]


def test_state_endpoint_answers_without_a_query(stack: EmbeddedStack, payments: Payments) -> None:
    assert stack.config is not None
    payment_id = payments.pay("alice", 1500)
    final = payments.finish("alice", payment_id)
    url = f"{stack.config.api_url}/payments/{payment_id}/state"
    own = httpx.get(url, headers={"Authorization": f"Bearer {stack.api_keys['alice']}"})
    assert own.json() == {"payment_id": payment_id, "state": final["state"], "done": True}
    other = httpx.get(url, headers={"Authorization": f"Bearer {stack.api_keys['bob']}"})
    assert other.status_code == 404, other.text


def test_a_finished_payments_status_needs_no_worker(
    stack: EmbeddedStack, payments: Payments
) -> None:
    # Read from the result in its close event: no query, so no worker replays its history.
    payment_id = payments.pay("alice", 1400)
    final = payments.finish("alice", payment_id)
    worker = stack.processes["worker-payments"]
    worker.signal(signal.SIGSTOP)
    try:
        again = payments.client("alice").status(payment_id)
    finally:
        worker.signal(signal.SIGCONT)
    assert again == final and again["timeline"][-1]["event"] == "notified"


def _read_while_running(
    stack: EmbeddedStack, payments: Payments, callback_delay_ms: int, wait_s: float = 0
) -> tuple[str, dict[str, Any], float]:
    """A payment whose provider confirms after ``callback_delay_ms``, read at once (with
    ``wait_s``): its id, the view read and the seconds the read took."""
    assert stack.config
    patch_knobs(stack.config.admin_urls.provider, callback_delay_ms=callback_delay_ms)
    payment_id = payments.pay("alice", 1300 + callback_delay_ms // 100)
    began = time.monotonic()
    view = payments.client("alice").status(payment_id, wait_s=wait_s)
    return payment_id, view, time.monotonic() - began


def test_a_running_payments_status_answers_at_once(
    stack: EmbeddedStack, payments: Payments
) -> None:
    # Its close event does not exist yet: the read must not wait for it. (The callback comes
    # 2 s in, well inside the stack's 3 s callback timeout, so the saga still succeeds.)
    payment_id, running, took = _read_while_running(stack, payments, 2000)
    assert took < 1.0
    assert running["state"] in ("pending", "processing"), running
    assert payments.finish("alice", payment_id)["state"] == "succeeded"


def test_a_read_with_wait_answers_when_the_payment_ends(
    stack: EmbeddedStack, payments: Payments
) -> None:
    # One long poll, answered as the saga closes (about 1.5 s), not when the wait is up.
    payment_id, final, took = _read_while_running(stack, payments, 1500, wait_s=15)
    assert (final["state"], final["step"]) == ("succeeded", "done"), final
    assert 1.0 < took < 8.0, took
    assert final == payments.finish("alice", payment_id)


def test_a_read_with_wait_answers_with_the_running_view_when_the_wait_is_up(
    stack: EmbeddedStack, payments: Payments
) -> None:
    # The callback comes 2.5 s in (under the stack's 3 s callback timeout): a 1 s wait ends
    # first, and the read answers with the running view then, not at the saga's end.
    payment_id, running, took = _read_while_running(stack, payments, 2500, wait_s=1)
    assert running["state"] in ("pending", "processing"), running
    assert took > 0.8, took
    assert stack.config
    other = httpx.get(
        f"{stack.config.api_url}/payments/{payment_id}",
        params={"wait": "1"},
        headers={"Authorization": f"Bearer {stack.api_keys['bob']}"},
    )
    assert other.status_code == 404, other.text
    assert payments.finish("alice", payment_id)["state"] == "succeeded"


def test_temporal_cli_query_returns_the_same_state(
    stack: EmbeddedStack, payments: Payments
) -> None:
    payment_id = payments.pay("alice", 1234)
    status = payments.finish("alice", payment_id)
    temporal = find_binary("temporal")
    assert temporal and stack.config
    result = subprocess.run(
        [
            temporal,
            "workflow",
            "query",
            "--workflow-id",
            payment_id,
            "--type",
            "status",
            "--address",
            stack.config.temporal_address,
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    answer = json.loads(result.stdout)
    assert answer["queryResult"][0]["state"] == status["state"] == "succeeded"


def test_insufficient_funds_moves_no_money(stack: EmbeddedStack, payments: Payments) -> None:
    payment_id = payments.pay("dave", 10_000)
    status = payments.finish("dave", payment_id)
    assert (status["state"], status["reason"]) == ("failed", "insufficient_funds")
    assert entries_of(stack, payment_id) == []


def test_decline_refunds(stack: EmbeddedStack, payments: Payments) -> None:
    assert stack.config
    patch_knobs(stack.config.admin_urls.provider, decline_rate=1.0)
    payment_id = payments.pay("bob", 2500)
    status = payments.finish("bob", payment_id)
    assert (status["state"], status["reason"]) == ("failed", "provider_declined")
    assert status["provider_attempts"] == 1 and "refund" in status["compensations"]
    assert entries_of(stack, payment_id) == ["debit", "refund"]


@pytest.mark.parametrize("kind", ["http_503", "connection_drop"])
def test_provider_flaky_three_times_then_fine(
    stack: EmbeddedStack, payments: Payments, kind: str
) -> None:
    assert stack.config
    patch_knobs(stack.config.admin_urls.provider, fail_first_attempts=3, error_kind=kind)
    payment_id = payments.pay("alice", 777)
    status = payments.finish("alice", payment_id)
    assert (status["state"], status["provider_attempts"]) == ("succeeded", 4)
    assert entries_of(stack, payment_id) == ["debit"]


def test_missing_callback_times_out_and_refunds(stack: EmbeddedStack, payments: Payments) -> None:
    assert stack.config
    patch_knobs(stack.config.admin_urls.provider, missing_callback_rate=1.0)
    payment_id = payments.pay("alice", 3100, "bank_transfer")
    status = payments.finish("alice", payment_id)
    assert (status["state"], status["reason"]) == ("failed", "callback_timeout")
    assert status["compensations"] == ["void", "refund"]
    assert entries_of(stack, payment_id) == ["debit", "refund"]


def test_fraud_reject_voids_and_refunds(stack: EmbeddedStack, payments: Payments) -> None:
    assert stack.config
    patch_knobs(stack.config.admin_urls.fraud, blocked_users=["bob"], delay_ms=300)
    patch_knobs(stack.config.admin_urls.provider, callback_delay_ms=5_000)
    payment_id = payments.pay("bob", 4100)
    status = payments.finish("bob", payment_id)
    assert (status["state"], status["reason"]) == ("failed", "fraud_rejected")
    assert status["compensations"] == ["void", "refund"]
    assert entries_of(stack, payment_id) == ["debit", "refund"]


def test_cancel_mid_flight_refunds_and_cancels_the_child(
    stack: EmbeddedStack, payments: Payments
) -> None:
    assert stack.config
    patch_knobs(stack.config.admin_urls.fraud, delay_ms=20_000)
    patch_knobs(stack.config.admin_urls.provider, callback_delay_ms=20_000)
    payment_id = payments.pay("alice", 4200, "wallet")
    payments.client("alice").wait(payment_id, until="await_confirmation")
    payments.client("alice").cancel(payment_id)
    status = payments.finish("alice", payment_id)
    assert (status["state"], status["reason"]) == ("cancelled", "cancel_requested")
    assert status["compensations"] == ["void", "fraud_check_cancelled", "refund"]
    assert entries_of(stack, payment_id) == ["debit", "refund"]

    async def child_status() -> WorkflowExecutionStatus | None:
        assert stack.config
        client = await connect(stack.config)
        return (await client.get_workflow_handle(f"{payment_id}-fraud").describe()).status

    assert asyncio.run(child_status()) is WorkflowExecutionStatus.CANCELED
    with pytest.raises(ApiClientError) as again:
        payments.client("alice").cancel(payment_id)
    assert again.value.status == 409


def _event(
    payment_id: str, charge_id: str, status: str = "succeeded", **extra: str
) -> dict[str, str]:
    """A provider callback body for one charge."""
    return {
        "event_id": f"evt_{charge_id}",
        "type": f"charge.{status}",
        "payment_id": payment_id,
        "charge_id": charge_id,
        "status": status,
        **extra,
    }


def _signed_post(
    stack: EmbeddedStack, body: dict[str, str], secret: str | None = None
) -> httpx.Response:
    assert stack.config
    raw = json.dumps(body).encode()
    header = signing.sign(secret or stack.config.webhook_secret, raw)
    return httpx.post(
        f"{stack.config.api_url}/webhooks/gateway",
        content=raw,
        headers={signing.SIGNATURE_HEADER: header, "content-type": "application/json"},
    )


def test_duplicate_webhooks_have_one_effect(stack: EmbeddedStack, payments: Payments) -> None:
    assert stack.config
    patch_knobs(stack.config.admin_urls.provider, duplicate_callback_rate=1.0)
    # The redelivery comes 1.1 s after the first copy: slow notifications keep the saga open.
    patch_knobs(stack.config.admin_urls.notify, latency_ms=2500)
    payment_id = payments.pay("alice", 555)
    status = payments.finish("alice", payment_id)
    charge = httpx.get(f"{stack.config.admin_urls.provider}/charges/{payment_id}").json()
    replay = _signed_post(stack, _event(payment_id, charge["charge_id"]))
    assert replay.status_code == 200 and replay.json()["result"] == "ignored"  # finished payment
    after = payments.client("alice").status(payment_id)
    events = [e["event"] for e in after["timeline"]]
    assert status["state"] == after["state"] == "succeeded"
    assert events.count("callback_received") == 1
    assert events.count("callback_duplicate") == 1  # the redelivery reached the saga's dedup
    assert charge["callbacks_sent"] == 2
    assert entries_of(stack, payment_id) == ["debit"]


def test_concurrent_replays_of_one_delivery_signal_the_saga_once(
    stack: EmbeddedStack, payments: Payments
) -> None:
    assert stack.config
    patch_knobs(stack.config.admin_urls.provider, callback_delay_ms=60_000)
    payment_id = payments.pay("alice", 610)
    waiting = payments.client("alice").wait(payment_id, until="await_confirmation")
    raw = json.dumps(_event(payment_id, waiting["charge_id"])).encode()
    headers = {
        signing.SIGNATURE_HEADER: signing.sign(stack.config.webhook_secret, raw),
        "content-type": "application/json",
    }

    async def replay_ten_times() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=stack.config.api_url, timeout=30) as client:
            posts = [
                client.post("/webhooks/gateway", content=raw, headers=headers) for _ in range(10)
            ]
            return await asyncio.gather(*posts)

    answers = asyncio.run(replay_ten_times())
    assert [r.status_code for r in answers] == [200] * 10
    results = sorted(r.json()["result"] for r in answers)
    assert results == ["delivered"] + ["ignored"] * 9
    status = payments.finish("alice", payment_id)
    events = [e["event"] for e in status["timeline"]]
    assert status["state"] == "succeeded"
    assert events.count("callback_received") == 1
    assert "callback_duplicate" not in events  # the replays never reached the workflow


def test_forged_webhook_is_rejected_and_changes_nothing(
    stack: EmbeddedStack, payments: Payments
) -> None:
    assert stack.config
    patch_knobs(stack.config.admin_urls.provider, callback_delay_ms=2_000)
    payment_id = payments.pay("alice", 900)
    before = payments.client("alice").wait(payment_id, until="await_confirmation")
    forged = _signed_post(
        stack,
        _event(payment_id, before["charge_id"], "declined", event_id="evt_forged"),
        secret="not-the-secret",
    )
    assert forged.status_code == 401
    assert forged.headers["content-type"].startswith("application/problem+json")
    status = payments.finish("alice", payment_id)
    assert status["state"] == "succeeded"
    assert "callback_received" in [e["event"] for e in status["timeline"]]


def test_same_idempotency_key_starts_one_saga(stack: EmbeddedStack, payments: Payments) -> None:
    first = payments.client("bob").pay("bob", 650, "card", idempotency_key="order-42")
    second = payments.client("bob").pay("bob", 650, "card", idempotency_key="order-42")
    assert first["payment_id"] == second["payment_id"]
    assert (first["created"], second["created"]) == (True, False)
    payments.final[first["payment_id"]] = "pending"
    payments.finish("bob", first["payment_id"])
    with pytest.raises(ApiClientError) as conflict:
        payments.client("bob").pay("bob", 651, "card", idempotency_key="order-42")
    assert conflict.value.status == 422
    assert entries_of(stack, first["payment_id"]) == ["debit"]


def test_other_users_payment_is_not_found(stack: EmbeddedStack, payments: Payments) -> None:
    payment_id = payments.pay("alice", 321)
    payments.finish("alice", payment_id)
    for call in (payments.client("bob").status, payments.client("bob").cancel):
        with pytest.raises(ApiClientError) as err:
            call(payment_id)
        assert err.value.status == 404
    with pytest.raises(ApiClientError) as forbidden:
        payments.client("bob").pay("alice", 100, "card")
    assert forbidden.value.status == 403


def test_requests_without_a_valid_key_are_401(stack: EmbeddedStack) -> None:
    assert stack.config
    response = httpx.get(
        f"{stack.config.api_url}/payments/pay_x", headers={"Authorization": "Bearer nope"}
    )
    assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"


def test_openapi_schema_is_served(stack: EmbeddedStack) -> None:
    assert stack.config
    schema = httpx.get(f"{stack.config.api_url}/schema/openapi.json").json()
    assert {"/payments", "/payments/{payment_id}", "/webhooks/gateway"} <= set(schema["paths"])


def test_stack_processes_are_separate(stack: EmbeddedStack) -> None:
    # On the cluster backend `temporal` is a group of the Temporal services' processes.
    pids = process_pids(stack.processes)
    assert "temporal" in stack.processes
    expected = {
        "temporal",
        "api",
        "sim-provider",
        "sim-fraud",
        "sim-notify",
        "worker-payments",
        "worker-accounts",
        "worker-fraud",
        "worker-notifications",
    }
    assert expected - {"temporal"} <= set(pids)
    assert len(set(pids.values())) == len(pids) and all(pids.values())


def test_attempts_are_visible_while_the_charge_retries(
    stack: EmbeddedStack, payments: Payments
) -> None:
    assert stack.config
    patch_knobs(stack.config.admin_urls.provider, error_rate=1.0, error_kind="http_500")
    payment_id = payments.pay("alice", 808)
    seen = set()
    while (current := payments.client("alice").status(payment_id))["step"] in (
        "debit",
        "charge",
        "validate",
    ):
        seen.add(current["provider_attempts"])
        time.sleep(0.05)
    status = payments.finish("alice", payment_id)
    assert (status["state"], status["reason"]) == ("failed", "provider_unavailable")
    assert status["provider_attempts"] == 5
    assert seen & {2, 3, 4}, f"live attempt counts seen: {sorted(seen)}"


def test_payment_status_search_attribute_finds_failed_payments(
    stack: EmbeddedStack, payments: Payments
) -> None:
    payment_id = payments.pay("dave", 99_999)
    assert payments.finish("dave", payment_id)["state"] == "failed"

    async def failed_ids() -> set[str]:
        assert stack.config
        client = await connect(stack.config)
        found: set[str] = set()
        for _ in range(50):
            found = {w.id async for w in client.list_workflows('PaymentStatus="failed"')}
            if payment_id in found:
                break
            await asyncio.sleep(0.1)
        return found

    assert payment_id in asyncio.run(failed_ids())


def test_rotating_the_webhook_secret_loses_no_callback(
    stack: EmbeddedStack, payments: Payments
) -> None:
    """The runbook: the API accepts the new secret and the old one, the signer moves to the new
    one, the old is dropped. A confirmation still signed with the old secret while the API has
    both is delivered (the payment succeeds); once the old one is dropped, only the new one is."""
    from orchestrator.config import load_config, write_config

    assert stack.config
    original = load_config(stack.config_path)
    old, new = original.webhook_secret, token_hex(32)
    rotating = msgspec.structs.replace(original, webhook_secret=new, webhook_previous_secrets=[old])
    patch_knobs(stack.config.admin_urls.provider, missing_callback_rate=1.0)  # the test signs
    try:
        write_config(rotating, stack.config_path)
        stack.restart("api")
        for secret in (old, new):
            payment_id = payments.pay("alice", 321)
            payments.client("alice").wait(payment_id, until="await_confirmation", timeout_s=10)
            charge = httpx.get(f"{stack.config.admin_urls.provider}/charges/{payment_id}").json()
            event = _event(payment_id, charge["charge_id"])
            assert _signed_post(stack, event, secret=secret).status_code == 200
            status = payments.finish("alice", payment_id)
            assert (status["state"], status["reason"]) == ("succeeded", None), secret
        write_config(
            msgspec.structs.replace(rotating, webhook_previous_secrets=[]), stack.config_path
        )
        stack.restart("api")
        assert _signed_post(stack, event, secret=old).status_code == 401
        assert _signed_post(stack, event, secret=new).status_code == 200
    finally:
        write_config(original, stack.config_path)
        stack.restart("api")
        patch_knobs(stack.config.admin_urls.provider, missing_callback_rate=0.0)


def test_sub_second_backoffs_wait_as_written(stack: EmbeddedStack, payments: Payments) -> None:
    """Three failed charges under a 0.2 s backoff doubling to 1 s wait 0.2 + 0.4 + 0.8 = 1.4 s.
    With the history service's default timer shift every retry waited at least 1 s (3 s here):
    the stack lowers ``history.timerProcessorMaxTimeShift`` (``runtime.embedded.TIMER_SHIFT``)."""
    assert stack.config
    patch_knobs(stack.config.admin_urls.provider, fail_first_attempts=3, error_kind="http_503")
    payment_id = payments.pay("alice", 778)
    status = payments.finish("alice", payment_id)
    assert (status["state"], status["provider_attempts"]) == ("succeeded", 4)
    at = {e["event"]: datetime.fromisoformat(e["at"]) for e in status["timeline"]}
    charging = (at["charge_accepted"] - at["debited"]).total_seconds()
    assert 1.4 <= charging < 2.4, f"4 charge attempts took {charging:.2f}s from the debit"
