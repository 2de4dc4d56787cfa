"""Workflow metrics are counted once however often a workflow's history is replayed.

The workers run without a workflow cache, so every workflow task replays the history from the
start: a metric recorded outside the replay-safe meter would be counted once per later task.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator

import pytest_asyncio
from temporalio.runtime import MetricBuffer, Runtime, TelemetryConfig
from temporalio.testing import WorkflowEnvironment

from orchestrator.payload_json import SAGA_DATA_CONVERTER
from orchestrator.temporal_client import register_search_attributes
from tests.binaries import require_binary
from tests.workflows.fakes import FakeServices
from tests.workflows.test_payment_workflow import start

SAGA_PREFIXES = ("saga_",)


def buffered_runtime() -> tuple[Runtime, MetricBuffer]:
    buffer = MetricBuffer(10_000)
    return Runtime(telemetry=TelemetryConfig(metrics=buffer)), buffer


def saga_updates(buffer: MetricBuffer) -> Counter[tuple[str, str]]:
    """``(metric, outcome-or-kind label) -> number of updates`` of the saga's own metrics."""
    seen: Counter[tuple[str, str]] = Counter()
    for update in buffer.retrieve_updates():
        name = update.metric.name
        if name.startswith(SAGA_PREFIXES):
            attrs = update.attributes
            seen[(name, str(attrs.get("outcome", attrs.get("kind", ""))))] += 1
    return seen


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def metered() -> AsyncIterator[tuple[WorkflowEnvironment, MetricBuffer]]:
    path = require_binary("temporal-test-server")
    runtime, buffer = buffered_runtime()
    async with await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=path, runtime=runtime, data_converter=SAGA_DATA_CONVERTER
    ) as env:
        await register_search_attributes(env.client)
        yield env, buffer


async def test_a_replayed_payment_adds_no_metrics(
    metered: tuple[WorkflowEnvironment, MetricBuffer],
) -> None:
    env, buffer = metered
    fakes = FakeServices(env.client, decline=True)
    async with fakes.workers(max_cached_workflows=0):
        handle = await start(env)
        outcome = await handle.result()
    assert outcome.state == "failed"
    history = await handle.fetch_history()
    tasks = sum(1 for e in history.events if e.HasField("workflow_task_completed_event_attributes"))
    assert tasks >= 4, f"only {tasks} workflow tasks: the replays this test needs did not happen"
    counted = saga_updates(buffer)
    # Recorded in early tasks (the refund, the fraud verdict), then replayed by every later one.
    assert counted[("saga_compensations", "refund")] == 1, counted
    assert counted[("saga_fraud_verdicts", "")] <= 1, counted
    assert counted[("saga_payments_finished", "failed")] == 1, counted
    assert counted[("saga_duration_seconds", "failed")] == 1, counted
