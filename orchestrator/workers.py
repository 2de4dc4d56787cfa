"""Worker processes: ``python -m orchestrator.workers ROLE --config FILE``.

Each role (:data:`orchestrator.roles.ROLES`) is a separate service on its own task queue.

A worker writes ``<state_dir>/ready/<name>@<build>`` once it polls (``--name``, default
``worker-<role>``; two workers of one role need two names), and shuts down gracefully on SIGTERM.
``--build`` picks the workflow code (see ``orchestrator.workflows.builds``). Its Temporal identity
is ``<name>:<pid>``, so a history shows which process ran each activity.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import uvloop
from temporalio.client import Client
from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.runtime import Runtime
from temporalio.worker import Worker, WorkerDeploymentConfig

from orchestrator import seams
from orchestrator.activities.accounts import MAX_CONCURRENT as ACCOUNT_THREADS
from orchestrator.activities.accounts import AccountActivities
from orchestrator.activities.fraud import FraudActivities
from orchestrator.activities.instrumentation import ActivityMetrics
from orchestrator.activities.notifications import NotificationActivities
from orchestrator.activities.provider import ProviderActivities
from orchestrator.activities.reconcile import ReconcileActivities
from orchestrator.config import StackConfig, load_config
from orchestrator.ledger import Ledger
from orchestrator.metrics_export import sdk_runtime, serve_metrics
from orchestrator.roles import ROLES, Role, pick_activities, saga_queues, workflow_runner
from orchestrator.temporal_client import connect
from orchestrator.workflows.builds import BUILDS, CURRENT_BUILD, DEPLOYMENT_NAME, VERSIONING

log = logging.getLogger("orchestrator.workers")

# Shorter than the activities' start-to-close timeouts, so a hung service surfaces as a
# retryable error raised by the activity itself (which carries the attempt number).
HTTP_TIMEOUT = httpx.Timeout(10.0, connect=3.0)


@dataclass(frozen=True)
class Swap:
    """Classes a worker runs in place of the product's: the one seam through which a test
    harness changes what a worker process runs (a deliberately broken saga, to measure itself).
    The product's own entry point never passes one."""

    workflows: Mapping[str, type] = field(default_factory=dict)
    """Workflow classes by workflow name (``PaymentWorkflow``), in place of the build's."""
    ledger: type[Ledger] = Ledger
    """The ledger class the account activities use."""


PRODUCT = Swap()


def _accounts(config: StackConfig, http: httpx.AsyncClient, swap: Swap) -> list[object]:
    location = config.worker_ledger_path or config.ledger_path
    ledger = swap.ledger(location, pool_size=ACCOUNT_THREADS)
    return [AccountActivities(ledger, seams.failpoints(config))]


#: Role -> the objects whose methods implement its activities (named as in ``ROLES``).
IMPLEMENTATIONS: dict[str, Callable[[StackConfig, httpx.AsyncClient, Swap], list[object]]] = {
    "payments": lambda config, http, swap: [
        ProviderActivities(config.urls.provider, http),
        ReconcileActivities(config, http),
    ],
    "accounts": _accounts,
    "fraud": lambda config, http, swap: [FraudActivities(config.urls.fraud, http)],
    "notifications": lambda config, http, swap: [NotificationActivities(config.urls.notify, http)],
}


def workflows_of(role: Role, build: str, swap: Swap = PRODUCT) -> list[type]:
    """The workflow classes a role runs in a build (with the swap's in place of the build's)."""
    return [swap.workflows.get(name, BUILDS[build][name]) for name in role.workflow_names]


def ready_file(config: StackConfig, name: str, build: str) -> Path:
    """Written once the worker process ``name`` polls; the stack waits for it."""
    return Path(config.state_dir) / "ready" / f"{name}@{build}"


def identity(name: str) -> str:
    """The Temporal identity of the worker process ``name``: ``<name>:<pid>``."""
    return f"{name}:{os.getpid()}"


async def run_worker(
    role_name: str,
    config: StackConfig,
    stop: asyncio.Event,
    build: str = CURRENT_BUILD,
    runtime: Runtime | None = None,
    name: str | None = None,
    swap: Swap = PRODUCT,
) -> None:
    """Serve one role of one build until ``stop`` is set, as the process ``name`` (default
    ``worker-<role>``), running ``swap``'s classes where it names any."""
    role = ROLES[role_name]
    name = name or f"worker-{role_name}"
    client = await connect(config, worker=True, runtime=runtime, identity=identity(name))
    behaviours = {VERSIONING[name] for name in role.workflow_names}
    deployment = (
        WorkerDeploymentConfig(
            version=WorkerDeploymentVersion(DEPLOYMENT_NAME, build),
            use_worker_versioning=True,
            default_versioning_behavior=behaviours.pop()
            if behaviours
            else VersioningBehavior.UNSPECIFIED,
        )
        if config.worker_versioning
        else None
    )
    async with AsyncExitStack() as stack:
        # With the harness's seams on, its requests follow the partial toxics.
        http = await stack.enter_async_context(seams.http_client(config, timeout=HTTP_TIMEOUT))
        worker = Worker(
            client,
            task_queue=role.task_queue,
            workflows=workflows_of(role, build, swap),
            workflow_runner=workflow_runner(config.workflow_sandbox),
            activities=pick_activities(
                role.activity_names, IMPLEMENTATIONS[role_name](config, http, swap)
            ),
            graceful_shutdown_timeout=timedelta(seconds=5),
            max_concurrent_activities=role.max_concurrent_activities,
            deployment_config=deployment,
            interceptors=[ActivityMetrics(role.activity_names)],
        )
        await stack.enter_async_context(worker)
        ready = ready_file(config, name, build)
        ready.parent.mkdir(parents=True, exist_ok=True)
        ready.touch()
        log.info("worker %s (build %s) polling %s", role_name, build, role.task_queue)
        await stop.wait()
        ready.unlink(missing_ok=True)


@asynccontextmanager
async def serve_saga(
    client: Client,
    services: object,
    workflows: Mapping[str, type] | None = None,
    *,
    absent: frozenset[str] = frozenset(),
    **options: Any,
) -> AsyncIterator[None]:
    """Serve the payment saga in this process, on its own task queues, with ``services``'
    methods (named like the activities) as its activities: the test fakes and the benchmark's
    no-op ceiling. ``workflows`` by name (default: the current build's); the task queues in
    ``absent`` get no worker (a service that is down); ``options`` go to every ``Worker``."""
    classes = workflows if workflows is not None else BUILDS[CURRENT_BUILD]
    async with AsyncExitStack() as stack:
        for queue, (served, activities) in saga_queues(services, classes).items():
            if queue not in absent:
                worker = Worker(
                    client, task_queue=queue, workflows=served, activities=activities, **options
                )
                await stack.enter_async_context(worker)
        yield


def main(argv: Sequence[str] | None = None, swap: Swap = PRODUCT) -> None:
    """Entry point of a worker process (``swap``: only from a harness's own entry point)."""
    parser = argparse.ArgumentParser(prog="python -m orchestrator.workers")
    parser.add_argument("role", choices=sorted(ROLES))
    parser.add_argument("--config", required=True, help="stack config.json")
    parser.add_argument("--build", choices=sorted(BUILDS), default=CURRENT_BUILD)
    parser.add_argument("--name", help="the process's name (default worker-ROLE)")
    parser.add_argument("--metrics-port", type=int, help="serve activity metrics here")
    parser.add_argument("--sdk-metrics-port", type=int, help="serve Temporal SDK metrics here")
    parser.add_argument("--metrics-host", default="127.0.0.1", help="0.0.0.0 in a container")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    config = load_config(args.config, needs=())
    name = args.name or f"worker-{args.role}"
    if args.metrics_port:
        serve_metrics(args.metrics_port, args.metrics_host)
    runtime = (
        sdk_runtime(args.sdk_metrics_port, name, args.metrics_host)
        if args.sdk_metrics_port
        else None
    )

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run_worker(args.role, config, stop, args.build, runtime, name, swap)

    # uvloop: cheaper cross-thread wake-ups from the SDK's core threads than asyncio's loop.
    uvloop.run(serve())


if __name__ == "__main__":
    main()
