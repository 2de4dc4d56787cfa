"""The OpenAPI document is the contract: schemathesis, every check and its stateful phase, on
the real stack, finds nothing; and the payments it started lose no money.

The command is the one docs/api.md gives (`schemathesis.toml` adds the hooks it explains).
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import time
from pathlib import Path

import pytest

from orchestrator.api.service import RUNNING_PAYMENTS
from orchestrator.config import StackConfig
from orchestrator.ledger import Ledger
from orchestrator.temporal_client import connect
from runtime.api_client import SagaClient
from runtime.audit import ledger_check
from runtime.embedded import EmbeddedStack
from tests.binaries import require_binary

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
USER = "contract"
MIN_CASES = 1000


def test_schemathesis_finds_nothing_and_no_money_is_lost(stack: EmbeddedStack) -> None:
    st = require_binary("st")
    assert stack.config is not None
    key = stack.add_account(stack.config, USER, 10**12)
    run = subprocess.run(
        [
            st,
            "run",
            f"{stack.config.api_url}/schema/openapi.json",
            "--checks",
            "all",
            "--header",
            f"Authorization: Bearer {key}",
            "--max-examples",
            "175",
            "--seed",
            "1",
            "--no-color",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-6000:]
    generated = re.search(r"(\d+) generated", output)
    assert generated and int(generated.group(1)) >= MIN_CASES, output[-2000:]
    assert "✅ Stateful" in output, output[-2000:]

    asyncio.run(_until_no_payment_runs(stack.config))
    finals: dict[str, str] = {}
    review: set[str] = set()
    ledger = Ledger(stack.config.ledger_path)
    client = SagaClient(stack.config.api_url, key)
    try:
        for payment_id in sorted(
            {e.payment_id for e in ledger.entries() if (e.user_id, e.kind) == (USER, "debit")}
        ):
            status = client.wait(payment_id, timeout_s=60)
            finals[payment_id] = status["state"]
            if status["reason"] == "refund_requires_review":
                review.add(payment_id)
    finally:
        client.close()
    assert finals, "schemathesis started no payment that debited"
    report = ledger_check(stack.config, finals, frozenset(review))
    assert report.ok, report.summary()


async def _until_no_payment_runs(config: StackConfig, timeout_s: float = 120) -> None:
    client = await connect(config)
    deadline = time.monotonic() + timeout_s
    while (await client.count_workflows(RUNNING_PAYMENTS)).count:
        assert time.monotonic() < deadline, "schemathesis's payments did not finish"
        await asyncio.sleep(0.5)
