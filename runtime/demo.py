"""``saga demo``: five payments that show the saga's main paths, then the ledger check.

1. a success; 2. insufficient funds (rejected, no money moves); 3. a provider decline (refund);
4. a missing callback with a 3-second timer (void + refund); 5. a cancel mid-flight.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.config import StackConfig
from orchestrator.models import SagaOptions
from runtime.admin_client import knobs_changed
from runtime.api_client import SagaClient
from runtime.audit import ledger_check
from runtime.embedded import EmbeddedStack, StackOptions
from runtime.tables import render_table

DEMO_CALLBACK_TIMEOUT_S = 3.0


@dataclass
class Case:
    """One demo payment and what it should end as."""

    title: str
    user: str
    amount: int
    method: str
    expect_state: str
    expect_reason: str | None
    knobs: dict[str, Any] = field(default_factory=dict)
    cancel_at_step: str | None = None


CASES = [
    Case("success", "alice", 1999, "card", "succeeded", None),
    Case("insufficient funds", "dave", 10_000, "card", "failed", "insufficient_funds"),
    Case(
        "provider decline",
        "bob",
        2500,
        "card",
        "failed",
        "provider_declined",
        knobs={"decline_rate": 1.0},
    ),
    Case(
        "missing callback",
        "alice",
        3100,
        "bank_transfer",
        "failed",
        "callback_timeout",
        knobs={"missing_callback_rate": 1.0},
    ),
    Case(
        "cancel mid-flight",
        "alice",
        4200,
        "wallet",
        "cancelled",
        "cancel_requested",
        knobs={"callback_delay_ms": 60_000},
        cancel_at_step="await_confirmation",
    ),
]


def run_case(case: Case, config: StackConfig, client: SagaClient) -> dict[str, Any]:
    """Run one case with its provider knobs, then put the knobs back."""
    with knobs_changed(config.admin_urls.provider, **case.knobs):
        payment_id = client.pay(case.user, case.amount, case.method)["payment_id"]
        if case.cancel_at_step:
            client.wait(payment_id, until=case.cancel_at_step)
            client.cancel(payment_id)
        return client.wait(payment_id, timeout_s=60)


def run_demo(state_dir: Path, out: Callable[[str], None] = print) -> bool:
    """Start a stack, run every case, print the outcomes and the ledger check; True if all held."""
    options = StackOptions(
        state_dir=state_dir, saga=SagaOptions(callback_timeout_s=DEMO_CALLBACK_TIMEOUT_S), ui=False
    )
    out(f"starting the embedded stack in {state_dir} ...")
    with EmbeddedStack(options) as stack:
        assert stack.config is not None
        config = stack.config
        rows = [["case", "payment", "state", "reason", "attempts", "compensations", "ok"]]
        final_states: dict[str, str] = {}
        all_ok = True
        for case in CASES:
            client = SagaClient(config.api_url, stack.api_keys[case.user])
            try:
                status = run_case(case, config, client)
            finally:
                client.close()
            ok = (status["state"], status["reason"]) == (case.expect_state, case.expect_reason)
            all_ok &= ok
            final_states[status["payment_id"]] = status["state"]
            rows.append(
                [
                    case.title,
                    status["payment_id"],
                    status["state"],
                    status["reason"] or "-",
                    str(status["provider_attempts"]),
                    ", ".join(status["compensations"]) or "-",
                    "yes" if ok else f"NO (expected {case.expect_state}/{case.expect_reason})",
                ]
            )
            out(f"  {case.title}: {status['state']}")
        out("")
        out(render_table(rows))
        report = ledger_check(config, final_states)
        out("")
        out(report.summary())
        return all_ok and report.ok
