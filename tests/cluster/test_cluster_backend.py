"""The cluster backend (``saga up --backend cluster``): the Temporal server built from source on
PostgreSQL, four history shards, one process per service, two account workers reaching the
ledger through the ``db`` link. Payments move money right on it, the plain Temporal CLI sees the
shards and the search attribute, and a payment in flight survives a kill -9 of the history
service alone."""

from __future__ import annotations

import json
import signal

import pytest

from orchestrator.ledger import is_postgres
from runtime.admin_client import patch_knobs
from runtime.api_client import SagaClient
from runtime.audit import ledger_check
from runtime.cluster import SERVICES, SHARDS
from runtime.embedded import EmbeddedStack
from runtime.processes import ProcessGroup
from tests.integration.conftest import temporal

pytestmark = pytest.mark.integration


def test_each_service_is_a_process_of_its_own(cluster: EmbeddedStack) -> None:
    pids = {name: cluster.processes[f"temporal-{name}"].pid for name in SERVICES}
    assert None not in pids.values() and len(set(pids.values())) == len(SERVICES), pids
    # `temporal` names them all at once (no dev server).
    group = cluster.processes["temporal"]
    assert isinstance(group, ProcessGroup)
    assert [m.name for m in group.members] == [f"temporal-{name}" for name in SERVICES]
    config = cluster.config
    assert config is not None and is_postgres(config.ledger_path)
    assert config.worker_ledger_path is not None and cluster.links is not None
    # The account workers dial the ledger through the db link; the harness reads it directly.
    assert config.worker_ledger_path.split("@")[1].startswith(
        f"127.0.0.1:{cluster.links.listen_port('db')}/"
    )
    assert "worker-accounts-2" in cluster.processes


def test_the_cluster_has_its_shards(cluster: EmbeddedStack) -> None:
    described = json.loads(temporal(cluster, "operator", "cluster", "describe", "-o", "json"))
    assert described["historyShardCount"] == SHARDS, described


def test_a_payment_survives_a_history_crash_and_is_found_by_its_status(
    cluster: EmbeddedStack,
) -> None:
    config = cluster.config
    assert config is not None
    client = SagaClient(config.api_url, cluster.api_keys["alice"])
    finals: dict[str, str] = {}
    try:
        plain = client.pay("alice", 1_200, "card")["payment_id"]
        finals[plain] = client.wait(plain, timeout_s=60)["state"]
        patch_knobs(config.admin_urls.provider, callback_delay_ms=4_000)
        survivor = client.pay("alice", 1_300, "card")["payment_id"]
        client.wait(survivor, until="await_confirmation", timeout_s=60)
        history = cluster.processes["temporal-history"]
        history.signal(signal.SIGKILL)  # the history service alone, shards and all
        assert history.popen is not None
        history.popen.wait(10)
        cluster.restart("temporal-history")
        finals[survivor] = client.wait(survivor, timeout_s=120)["state"]
    finally:
        patch_knobs(config.admin_urls.provider, callback_delay_ms=100)
        client.close()
    assert finals == {plain: "succeeded", survivor: "succeeded"}
    listed = temporal(
        cluster, "workflow", "list", "--query", 'PaymentStatus="succeeded"', "-o", "json"
    )
    assert plain in listed and survivor in listed
    report = ledger_check(config, finals, frozenset())
    assert report.ok, report.summary()
