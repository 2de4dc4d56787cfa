"""A rollback that would strand payments is refused (issue 34, item 15).

Under AUTO_UPGRADE a rollback moves every open payment to the older build at its next task; one
started on the newer build recorded patch markers the older one never asks for, and fails every
workflow task with non-determinism from then on (docs/upgrades.md, "Rolling back")."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from orchestrator.models import CancelRequest, PaymentRequest, SagaOptions
from orchestrator.temporal_client import connect
from orchestrator.workflows.builds import CURRENT_BUILD
from orchestrator.workflows.payment import PaymentWorkflow
from runtime.admin_client import patch_knobs
from runtime.embedded import EmbeddedStack
from runtime.errors import StackError

pytestmark = pytest.mark.integration


def test_a_rollback_is_refused_while_payments_of_the_newer_build_are_open(
    chaos_stack: EmbeddedStack,
) -> None:
    config = chaos_stack.config
    assert config is not None and chaos_stack.build == CURRENT_BUILD == "v2"
    user = f"rollback-{uuid.uuid4().hex[:8]}"
    chaos_stack.add_account(config, user, 10_000)
    patch_knobs(config.admin_urls.provider, missing_callback_rate=1.0)
    payment_id = f"pay_rollback_{uuid.uuid4().hex[:8]}"

    async def start() -> None:
        client = await connect(config)
        handle = await client.start_workflow(
            PaymentWorkflow.run,
            PaymentRequest(
                payment_id, user, 100, "USD", "card", SagaOptions(callback_timeout_s=120)
            ),
            id=payment_id,
            task_queue="payments",
        )
        deadline = time.monotonic() + 30
        while (await handle.query(PaymentWorkflow.status)).step != "await_confirmation":
            assert time.monotonic() < deadline, "the payment never reached await_confirmation"
            await asyncio.sleep(0.2)

    async def finish() -> str:
        client = await connect(config)
        handle = client.get_workflow_handle_for(PaymentWorkflow.run, payment_id)
        await handle.signal(PaymentWorkflow.cancel, CancelRequest("test"))
        return (await handle.result()).state

    try:
        asyncio.run(start())
        with pytest.raises(StackError, match=r"refusing to roll back to v1: 1 payment\(s\)"):
            chaos_stack.deploy("v1", drain_s=0.5)
        assert chaos_stack.build == "v2"
    finally:
        patch_knobs(config.admin_urls.provider, missing_callback_rate=0.0)
        assert asyncio.run(finish()) == "cancelled"
