"""Metrics of one payment reach Prometheus from every process that knows something about it."""

from __future__ import annotations

import time

import httpx
import pytest

from runtime.embedded import HISTORY_CACHE_ENTRIES, EmbeddedStack
from runtime.prometheus import query
from tests.binaries import require_binary
from tests.integration.conftest import Payments

pytestmark = pytest.mark.integration


def prometheus_of(stack: EmbeddedStack) -> str:
    require_binary("prometheus")
    assert stack.prometheus_url, "the stack did not start Prometheus although it is installed"
    return stack.prometheus_url


def value(base: str, promql: str) -> float:
    return sum(float(sample["value"][1]) for sample in query(base, promql))  # type: ignore[index]


def eventually(base: str, promql: str, at_least: float, timeout_s: float = 20.0) -> float:
    deadline = time.monotonic() + timeout_s
    while (seen := value(base, promql)) < at_least:
        if time.monotonic() > deadline:
            raise AssertionError(f"{promql} = {seen} after {timeout_s:g}s, wanted >= {at_least}")
        time.sleep(0.5)
    return seen


def test_every_process_is_scraped(stack: EmbeddedStack) -> None:
    base = prometheus_of(stack)
    deadline = time.monotonic() + 20
    while True:
        targets = httpx.get(f"{base}/api/v1/targets", timeout=5).json()["data"]["activeTargets"]
        health = {(t["labels"]["job"], t["labels"]["process"]): t["health"] for t in targets}
        if (health and all(h == "up" for h in health.values())) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert all(h == "up" for h in health.values()), health
    jobs = {job for job, _ in health}
    assert {"api", "worker", "temporal-sdk", "simulator", "temporal-server"} <= jobs, jobs
    assert {process for _, process in health} >= {
        "api",
        "worker-payments",
        "worker-accounts",
        "worker-fraud",
        "worker-notifications",
        "sim-provider",
        "temporal",
    }


def test_one_payment_shows_up_in_prometheus(stack: EmbeddedStack, payments: Payments) -> None:
    base = prometheus_of(stack)
    before = value(base, 'sum(saga_payments_finished_total{outcome="succeeded"})')
    payment_id = payments.pay("alice", 1234)
    assert payments.finish("alice", payment_id)["state"] == "succeeded"
    eventually(base, 'sum(saga_payments_finished_total{outcome="succeeded"})', before + 1)
    eventually(base, 'sum(saga_payments_started_total{method="card"})', 1)
    eventually(base, 'sum(saga_activity_attempts_total{activity="charge_payment",result="ok"})', 1)
    eventually(base, 'sum(saga_callbacks_received_total{result="delivered"})', 1)
    eventually(base, 'sum(saga_notifications_total{result="sent"})', 1)
    eventually(base, 'sum(saga_duration_seconds_count{outcome="succeeded"})', 1)
    eventually(base, 'sum(sim_provider_charges_total{result="accepted"})', 1)
    eventually(base, 'sum(saga_api_requests_total{path="/payments"})', 1)
    # A payment id never becomes a label: the status route is grouped by its template.
    paths = {s["metric"]["path"] for s in query(base, "saga_api_requests_total")}  # type: ignore[index]
    assert not any(payment_id in path for path in paths), paths


def test_the_history_cache_is_bounded(stack: EmbeddedStack) -> None:
    """The dev server honours ``history.hostLevelCacheMaxSize``: with the CLI's 8,096 executions,
    each kept an hour, the server's heap grew by about 450 KB per payment, and its CPU per payment
    with it (BENCHMARKS.md, "Fifth round"). The server reports the cache's capacity as a gauge; a
    misspelt key would be ignored without a word and read 8,096. (The cluster backend's 1.29
    history service gives its replication progress cache the same label, so its gauge cannot
    tell the two apart; it is given the same key.)"""
    (address,) = [address for job, address in stack.targets.targets["temporal"]]
    metrics = httpx.get(f"http://{address}/metrics", timeout=10).text.splitlines()
    capacity = [
        float(line.rsplit(" ", 1)[1])
        for line in metrics
        if line.startswith("cache_size{") and 'cache_type="mutablestate"' in line
    ]
    assert capacity == [HISTORY_CACHE_ENTRIES], capacity
