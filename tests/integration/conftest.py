"""One real embedded stack for the integration tests: dev server, simulators, API, workers.

Before each test every simulator knob is reset; after each test the ledger check must hold for
every payment the session created.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from orchestrator.models import RetryOptions, SagaOptions
from runtime.admin_client import patch_knobs
from runtime.api_client import SagaClient
from runtime.audit import ledger_check
from runtime.embedded import EmbeddedStack, StackOptions
from simulators.fraud import FraudKnobs
from simulators.notifications import NotificationKnobs
from simulators.provider import ProviderKnobs
from tests.binaries import find_binary, require_binary
from tests.state_dirs import fixture_state_dir

CALLBACK_TIMEOUT_S = 3.0
FAST_RETRY = RetryOptions(
    initial_interval_s=0.2, backoff_coefficient=2.0, maximum_interval_s=1.0, maximum_attempts=5
)


#: Modules whose tests run on both backends (the money paths and the outage); the others are
#: about the API and the harness, and run on the dev backend only.
ON_BOTH_BACKENDS = {"test_payments", "test_money_safety", "test_temporal_outage"}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every test on the shared stack runs on the dev backend; those of
    :data:`ON_BOTH_BACKENDS` on the cluster backend too (ids ``[dev]``, ``[cluster]``)."""
    if "stack" not in metafunc.fixturenames:
        return
    module = metafunc.module.__name__.rsplit(".", 1)[-1]
    backends = ["dev", "cluster"] if module in ON_BOTH_BACKENDS else ["dev"]
    metafunc.parametrize("backend", backends, indirect=True, scope="package")


@pytest.fixture(scope="package")
def backend(request: pytest.FixtureRequest) -> str:
    """The backend of the shared stack (parametrized by :func:`pytest_generate_tests`)."""
    name: str = request.param
    return name


@pytest.fixture(scope="package")  # stopped before the scenario stacks start
def stack(backend: str, request: pytest.FixtureRequest) -> Iterator[EmbeddedStack]:
    require_binary("temporal")
    if backend == "cluster":
        require_binary("temporal-server")
        require_binary("temporal-sql-tool")
    with fixture_state_dir(request, f"saga-it-{backend}-") as state_dir:
        options = StackOptions(
            backend="cluster" if backend == "cluster" else "dev",
            state_dir=state_dir,
            saga=SagaOptions(callback_timeout_s=CALLBACK_TIMEOUT_S, charge_retry=FAST_RETRY),
            ui=False,
            # In CI a missing Prometheus fails the stack with the install hint; locally it is
            # optional.
            prometheus="on" if os.environ.get("CI") else "auto",
            rate_limit_per_s=50.0,  # a deployment's default, so test_hostile_input can exceed it
            rate_limit_burst=100,
        )
        with EmbeddedStack(options) as running:
            yield running


class Payments:
    """Clients per user, and the final state of every payment a test created."""

    def __init__(self, stack: EmbeddedStack) -> None:
        self.stack = stack
        self.clients: dict[str, SagaClient] = {}
        self.final: dict[str, str] = {}
        self.review: set[str] = set()

    def client(self, user: str) -> SagaClient:
        if user not in self.clients:
            assert self.stack.config is not None
            self.clients[user] = SagaClient(self.stack.config.api_url, self.stack.api_keys[user])
        return self.clients[user]

    def pay(self, user: str, amount: int, method: str = "card", **kw: Any) -> str:
        payment_id: str = self.client(user).pay(user, amount, method, **kw)["payment_id"]
        self.final.setdefault(payment_id, "pending")
        return payment_id

    def finish(self, user: str, payment_id: str, timeout_s: float = 30) -> dict[str, Any]:
        status = self.client(user).wait(payment_id, timeout_s=timeout_s)
        self.final[payment_id] = status["state"]
        if status["reason"] == "refund_requires_review":
            self.review.add(payment_id)
        return status

    def close(self) -> None:
        for client in self.clients.values():
            client.close()


#: Per stack (state directory): every payment the session made on it, and those in review.
_all_final: dict[Path, dict[str, str]] = {}
_all_review: dict[Path, set[str]] = {}


@pytest.fixture
def payments(stack: EmbeddedStack) -> Iterator[Payments]:
    assert stack.config is not None
    urls = stack.config.admin_urls
    for url, knobs in (
        (urls.provider, ProviderKnobs()),
        (urls.fraud, FraudKnobs()),
        (urls.notify, NotificationKnobs()),
    ):
        patch_knobs(url, **msgspec.to_builtins(knobs))
    helper = Payments(stack)
    yield helper
    helper.close()
    final = _all_final.setdefault(stack.state_dir, {})
    review = _all_review.setdefault(stack.state_dir, set())
    final.update(helper.final)
    review.update(helper.review)
    report = ledger_check(stack.config, final, frozenset(review))
    assert report.ok, report.summary()


def temporal(stack: EmbeddedStack, *args: str) -> str:
    """The plain Temporal CLI against the stack; its output (a failure raises)."""
    binary = find_binary("temporal")
    assert binary and stack.config
    result = subprocess.run(
        [binary, *args, "--address", stack.config.temporal_address],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return result.stdout
