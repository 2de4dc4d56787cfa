"""Money safety on the real stack, driven the way an operator would: the plain `temporal` CLI.

- `temporal workflow cancel` while the debit is held (a failpoint) and the accounts worker is
  paused: the debit commits after the cancel, the payment still ends `cancelled` with a refund and
  the execution COMPLETED;
- `temporal workflow terminate` of a debited payment: `saga reconcile --dry-run` says it is
  settling (closed too recently), then, 20 s later, names the repair,
  `saga reconcile` makes it, the ledger balances;
- the API's cancel needs no workflow query: it answers 202 with the payments worker paused.
The ``payments`` fixture audits the ledger after each test.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from orchestrator.failpoints import FILE_NAME, Failpoint, write_failpoints
from orchestrator.ledger import Ledger
from orchestrator.workflows.reconcile import SETTLE_AFTER_CLOSE
from runtime.admin_client import patch_knobs
from runtime.embedded import EmbeddedStack
from tests.binaries import find_binary
from tests.integration.conftest import Payments, temporal
from tests.integration.test_payments import entries_of

pytestmark = pytest.mark.integration


def saga(stack: EmbeddedStack, *args: str) -> str:
    binary = find_binary("saga")
    assert binary
    result = subprocess.run(
        [binary, "--state-dir", str(stack.state_dir), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"saga {' '.join(args)}: {result.returncode}\n{result.stderr}"
    return result.stdout


@pytest.fixture
def held_debit(stack: EmbeddedStack) -> Iterator[None]:
    """Every debit waits 3 s before it commits."""
    path = Path(stack.state_dir) / FILE_NAME
    write_failpoints(path, {"debit": Failpoint(delay_ms=3000)})
    try:
        yield
    finally:
        write_failpoints(path, {})


def test_temporal_cancel_during_a_held_debit_refunds_it(
    stack: EmbeddedStack, payments: Payments, held_debit: None
) -> None:
    accounts = stack.processes["worker-accounts"]
    payment_id = payments.pay("alice", 2500)
    payments.client("alice").wait(payment_id, until="debit")
    accounts.signal(signal.SIGSTOP)
    try:
        temporal(stack, "workflow", "cancel", "--workflow-id", payment_id)
    finally:
        accounts.signal(signal.SIGCONT)
    status = payments.finish("alice", payment_id, timeout_s=60)
    assert (status["state"], status["reason"]) == ("cancelled", "cancel_requested")
    assert status["compensations"] == ["refund"]
    assert entries_of(stack, payment_id) == ["debit", "refund"]
    events = [e["event"] for e in status["timeline"]]
    assert events.index("cancel_requested") < events.index("debited")  # it committed after
    described = json.loads(
        temporal(stack, "workflow", "describe", "--workflow-id", payment_id, "--output", "json")
    )
    assert described["workflowExecutionInfo"]["status"] == "WORKFLOW_EXECUTION_STATUS_COMPLETED"


def awaiting_confirmation(stack: EmbeddedStack, payments: Payments, amount: int) -> str:
    """A payment of alice's, debited and charged, waiting for a callback that comes in 30 s."""
    assert stack.config
    patch_knobs(stack.config.admin_urls.provider, callback_delay_ms=30_000)
    payment_id = payments.pay("alice", amount)
    payments.client("alice").wait(payment_id, until="await_confirmation")
    return payment_id


def test_terminate_then_reconcile_restores_the_ledger(
    stack: EmbeddedStack, payments: Payments
) -> None:
    payment_id = awaiting_confirmation(stack, payments, 3100)
    temporal(stack, "workflow", "terminate", "--workflow-id", payment_id, "--reason", "test")
    terminated = time.monotonic()
    settling = saga(stack, "reconcile", "--dry-run")
    assert f"settling {payment_id}" in settling, settling  # its charge could still be landing
    time.sleep(max(0.0, terminated + SETTLE_AFTER_CLOSE.total_seconds() + 1 - time.monotonic()))
    plan = saga(stack, "reconcile", "--dry-run")
    assert f"refund {payment_id}" in plan and f"void {payment_id}" in plan, plan
    assert entries_of(stack, payment_id) == ["debit"]  # a dry run changes nothing
    done = saga(stack, "reconcile")
    assert f"refund {payment_id}" in done and "[done]" in done, done
    assert entries_of(stack, payment_id) == ["debit", "refund"]
    again = saga(stack, "reconcile")
    assert f"refund {payment_id}" not in again and f"void {payment_id}" not in again, again
    # Its money is where it stays: that pass settled it, and later passes no longer read it.
    assert stack.config is not None
    ledger = Ledger(stack.config.ledger_path)
    assert payment_id not in {d.payment_id for d in ledger.unsettled_debits()}, again
    payments.final[payment_id] = "failed"  # what the money must now look like
    # The pass that settled it told its user, and the API shows how it ended (issue 34, item 8).
    assert f"notified {payment_id}" in again, again
    notify_url = stack.config.admin_urls.notify
    notices = httpx.get(f"{notify_url}/notifications", timeout=10).json()["sent"]
    mine = [n for n in notices if n["payment_id"] == payment_id]
    assert [n["message"] for n in mine] == [f"Your payment {payment_id} is failed (terminated)"]
    view = payments.client("alice").status(payment_id)
    assert (view["state"], view["reason"], view["step"]) == ("failed", "terminated", "done")
    if stack.prometheus_url is not None:  # always in CI
        assert alert_fires(stack.prometheus_url, "ReconcilerRepairing")


def alert_fires(prometheus_url: str, name: str, wait_s: float = 30.0) -> bool:
    """Whether Prometheus fires alert ``name`` within ``wait_s`` (scrapes and rule evaluations
    take a few seconds)."""
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        alerts = httpx.get(f"{prometheus_url}/api/v1/alerts", timeout=10).json()["data"]["alerts"]
        if any(a["labels"]["alertname"] == name and a["state"] == "firing" for a in alerts):
            return True
        time.sleep(1)
    return False


def test_cancel_is_accepted_while_the_payments_worker_is_paused(
    stack: EmbeddedStack, payments: Payments
) -> None:
    payment_id = awaiting_confirmation(stack, payments, 1700)
    worker = stack.processes["worker-payments"]
    worker.signal(signal.SIGSTOP)
    try:
        answer = payments.client("alice").cancel(payment_id)  # no query: no worker needed
    finally:
        worker.signal(signal.SIGCONT)
    assert answer == {"payment_id": payment_id, "cancel_requested": True}
    status = payments.finish("alice", payment_id)
    assert status["state"] == "cancelled"


def test_a_capture_that_cannot_be_voided_ends_in_review_and_alerts(
    stack: EmbeddedStack, payments: Payments
) -> None:
    assert stack.config
    patch_knobs(
        stack.config.admin_urls.provider,
        strict=True,
        capture_after_ms=500,
        missing_callback_rate=1.0,
    )
    payment_id = payments.pay("alice", 1300)
    status = payments.finish("alice", payment_id)  # the callback timer (3 s) fires after capture
    assert (status["state"], status["reason"]) == ("failed", "refund_requires_review")
    assert status["compensations"] == [] and entries_of(stack, payment_id) == ["debit"]
    events = [e["event"] for e in status["timeline"]]
    assert "void_rejected" in events and "refund_withheld" in events
    if stack.prometheus_url is not None:  # always in CI
        assert alert_fires(stack.prometheus_url, "PaymentNeedsRefundReview")


def test_a_key_reused_after_its_execution_is_deleted_starts_no_second_saga(
    stack: EmbeddedStack, payments: Payments
) -> None:
    """Issue 34, item 3: `temporal workflow delete` (as retention does) and then the client's
    retry of the same POST with the same Idempotency-Key. Before the API's request log it
    started a second saga under the same payment id, which timed out waiting for a callback the
    provider had already sent, then voided the charge and refunded the debit of a payment the
    user had been told succeeded."""
    key = f"retention-{time.monotonic_ns()}"
    client = payments.client("alice")
    payment_id = client.pay("alice", 1234, "card", idempotency_key=key)["payment_id"]
    payments.final[payment_id] = "pending"
    assert payments.finish("alice", payment_id)["state"] == "succeeded"
    temporal(stack, "workflow", "delete", "--workflow-id", payment_id, "--yes")
    deadline = time.monotonic() + 120
    while True:  # the server deletes asynchronously: about 34 s on the dev server
        try:
            temporal(stack, "workflow", "describe", "--workflow-id", payment_id)
        except subprocess.CalledProcessError:
            break
        assert time.monotonic() < deadline, "the execution was never deleted"
        time.sleep(0.5)
    again = client.pay("alice", 1234, "card", idempotency_key=key)
    assert (again["payment_id"], again["created"]) == (payment_id, False)
    time.sleep(5)  # past the stack's 3 s callback timer: a second saga would have compensated
    with pytest.raises(subprocess.CalledProcessError):
        temporal(stack, "workflow", "describe", "--workflow-id", payment_id)
    assert entries_of(stack, payment_id) == ["debit"]
    payments.final.pop(payment_id)  # no execution is left to audit it by; its money stays


def test_prometheus_loads_the_alert_rules(stack: EmbeddedStack) -> None:
    if stack.prometheus_url is None:
        pytest.skip("the stack runs without Prometheus (CI always has it)")
    rules = httpx.get(f"{stack.prometheus_url}/api/v1/rules", timeout=10).json()
    names = {r["name"] for g in rules["data"]["groups"] for r in g["rules"]}
    assert {"PaymentNeedsRefundReview", "CompensationRetrying", "ReconcilerRepairing"} <= names
