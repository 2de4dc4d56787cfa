"""Connecting to Temporal: one place for the address, namespace and start-up retries."""

from __future__ import annotations

import asyncio
import time

from temporalio.client import Client
from temporalio.runtime import Runtime
from temporalio.service import RPCError

from orchestrator.config import StackConfig
from orchestrator.errors import TemporalUnreachable
from orchestrator.payload_json import SAGA_DATA_CONVERTER


async def connect(
    config: StackConfig,
    *,
    wait_s: float = 30.0,
    worker: bool = False,
    runtime: Runtime | None = None,
    namespace: str | None = None,
    identity: str | None = None,
) -> Client:
    """Connect, retrying while the server comes up (it may be restarting under chaos).

    Workers dial through the ``temporal`` link so that scenarios can cut them off.
    ``namespace`` overrides the config's (the benchmark's ceiling runs in its own).
    """
    address = config.worker_temporal_address if worker else config.temporal_address
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return await Client.connect(
                address,
                namespace=namespace or config.namespace,
                data_converter=SAGA_DATA_CONVERTER,
                runtime=runtime,
                identity=identity,
            )
        except (RuntimeError, RPCError) as exc:
            if time.monotonic() > deadline:
                raise TemporalUnreachable(f"cannot reach Temporal at {address}: {exc}") from exc
            await asyncio.sleep(0.5)


async def register_search_attributes(client: Client) -> None:
    """Register the ``PaymentStatus`` keyword attribute (idempotent)."""
    from temporalio.api.enums.v1 import IndexedValueType
    from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest

    try:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=client.namespace,
                search_attributes={"PaymentStatus": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD},
            )
        )
    except RPCError as exc:
        if "already" not in str(exc).lower():
            raise


async def register_namespaces(
    config: StackConfig, names: tuple[str, ...], *, wait_s: float = 90.0
) -> None:
    """Register namespaces (a day's retention) with ``PaymentStatus`` on each (idempotent).

    A fresh Temporal cluster has none (the dev server creates its own); retried while its
    services find one another.
    """
    from google.protobuf.duration_pb2 import Duration
    from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest

    deadline = time.monotonic() + wait_s
    for name in names:
        while True:
            try:
                client = await connect(config, namespace=name, wait_s=wait_s)
                try:
                    await client.workflow_service.register_namespace(
                        RegisterNamespaceRequest(
                            namespace=name,
                            workflow_execution_retention_period=Duration(seconds=86_400),
                        )
                    )
                except RPCError as exc:
                    if "already" not in str(exc).lower():
                        raise
                await register_search_attributes(client)
                break
            except RPCError as exc:
                if time.monotonic() > deadline:
                    raise TemporalUnreachable(
                        f"could not register namespace {name!r}: {exc}"
                    ) from exc
                await asyncio.sleep(1.0)


async def set_current_version(
    config: StackConfig, deployment_name: str, build_id: str, *, wait_s: float = 20.0
) -> None:
    """Make a deployment version current (like `temporal worker deployment set-current-version`).

    Retried for a while: the server learns of a version from its pollers, shortly after start.
    """
    from temporalio.api.workflowservice.v1 import SetWorkerDeploymentCurrentVersionRequest

    client = await connect(config)
    request = SetWorkerDeploymentCurrentVersionRequest(
        namespace=config.namespace,
        deployment_name=deployment_name,
        build_id=build_id,
        identity="saga-stack",
    )
    deadline = time.monotonic() + wait_s
    while True:
        try:
            await client.workflow_service.set_worker_deployment_current_version(request)
            return
        except RPCError as exc:
            if time.monotonic() > deadline:
                raise TemporalUnreachable(
                    f"cannot make {deployment_name}.{build_id} current: {exc}"
                ) from exc
            await asyncio.sleep(0.5)


async def delete_execution(client: Client, workflow_id: str, wait_s: float = 120.0) -> None:
    """``temporal workflow delete``, as retention does, and wait until Temporal no longer knows
    the execution (the server deletes asynchronously: about 34 s on the dev server)."""
    from temporalio.api.common.v1 import WorkflowExecution
    from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
    from temporalio.service import RPCStatusCode

    await client.workflow_service.delete_workflow_execution(
        DeleteWorkflowExecutionRequest(
            namespace=client.namespace,
            workflow_execution=WorkflowExecution(workflow_id=workflow_id),
        )
    )
    deadline = time.monotonic() + wait_s
    while True:
        try:
            await client.get_workflow_handle(workflow_id).describe()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return
            raise
        if time.monotonic() > deadline:
            raise TemporalUnreachable(
                f"Temporal still knows {workflow_id} {wait_s:g} s after its delete"
            )
        await asyncio.sleep(0.5)


async def stranded_by_rollback(config: StackConfig, deployment_name: str, later: list[str]) -> int:
    """Open payments started on one of the ``later`` builds of a deployment: a rollback away
    from those builds would move them, under AUTO_UPGRADE, to code that cannot replay their
    histories (docs/upgrades.md, "Rolling back")."""
    if not later:
        return 0
    versions = ", ".join(f"'{deployment_name}:{build}'" for build in later)
    query = (
        "WorkflowType = 'PaymentWorkflow' AND ExecutionStatus = 'Running'"
        f" AND TemporalWorkerDeploymentVersion IN ({versions})"
    )
    client = await connect(config)
    return (await client.count_workflows(query)).count
