"""The whole stack on a PostgreSQL ledger (``saga up --ledger postgres``): payments that
succeed, are declined, cancelled mid-flight and race the velocity limit move money exactly as
on SQLite, and the ledger check holds."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from orchestrator.ledger import is_postgres
from orchestrator.models import SagaOptions
from runtime.admin_client import patch_knobs
from runtime.api_client import SagaClient
from runtime.audit import ledger_check
from runtime.embedded import EmbeddedStack, StackOptions
from tests.binaries import require_binary
from tests.state_dirs import fixture_state_dir

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pg_stack(request: pytest.FixtureRequest) -> Iterator[EmbeddedStack]:
    require_binary("initdb")
    with fixture_state_dir(request, "saga-pg-it-") as state_dir:
        options = StackOptions(
            state_dir=state_dir,
            saga=SagaOptions(callback_timeout_s=3.0, velocity_max_payments=5),
            ui=False,
            toxiproxy="off",
            prometheus="off",
            ledger="postgres",
        )
        with EmbeddedStack(options) as running:
            yield running


def test_payments_on_a_postgres_ledger_keep_the_money_right(pg_stack: EmbeddedStack) -> None:
    config = pg_stack.config
    assert config is not None and is_postgres(config.ledger_path)
    client = SagaClient(config.api_url, pg_stack.api_keys["alice"])
    finals: dict[str, str] = {}
    try:
        ok = client.pay("alice", 1_500, "card")["payment_id"]
        finals[ok] = client.wait(ok)["state"]
        patch_knobs(config.admin_urls.provider, decline_rate=1.0)
        declined = client.pay("alice", 700, "card")["payment_id"]
        finals[declined] = client.wait(declined)["state"]
        patch_knobs(config.admin_urls.provider, decline_rate=0.0, callback_delay_ms=2_000)
        cancelled = client.pay("alice", 900, "card")["payment_id"]
        client.wait(cancelled, until="await_confirmation")
        client.cancel(cancelled)
        finals[cancelled] = client.wait(cancelled)["state"]
        patch_knobs(config.admin_urls.provider, callback_delay_ms=100)
        burst = [client.pay("alice", 100, "card")["payment_id"] for _ in range(4)]
        reasons = []
        for payment_id in burst:
            status = client.wait(payment_id)
            finals[payment_id] = status["state"]
            reasons.append(status["reason"])
    finally:
        client.close()
    assert [finals[p] for p in (ok, declined, cancelled)] == ["succeeded", "failed", "cancelled"]
    # Five debits in the window at most, three taken above: two of the four at once get through.
    assert sorted(str(r) for r in reasons) == ["None", "None", "velocity_limit", "velocity_limit"]
    report = ledger_check(config, finals, frozenset())
    assert report.ok, report.summary()
