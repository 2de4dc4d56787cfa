"""The worker roles: which task queue serves which workflows and activities.

One table for every place that serves the saga: the real workers (:mod:`orchestrator.workers`),
the benchmark's no-op ceiling and the workflow tests' fakes all build their workers from it, so
an activity moved to another queue moves everywhere at once.

=============  ===============  ==========================================================
role           task queue       runs
=============  ===============  ==========================================================
payments       payments         PaymentWorkflow, ReconcileWorkflow, provider and reconciler
                                activities
accounts       accounts         validate/debit/refund/repair activities over the ledger
fraud          fraud            LocalFraudCheckWorkflow, FraudCheckWorkflow and the scoring
                                activity
notifications  notifications    email/SMS activities
=============  ===============  ==========================================================
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from temporalio.worker import UnsandboxedWorkflowRunner, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from orchestrator.activities.accounts import MAX_CONCURRENT as ACCOUNT_THREADS
from orchestrator.models import ACCOUNTS_QUEUE, FRAUD_QUEUE, NOTIFICATIONS_QUEUE, PAYMENTS_QUEUE

#: The workflows of one payment (the reconciler's workflow is not one of them).
SAGA_WORKFLOWS = ("PaymentWorkflow", "LocalFraudCheckWorkflow", "FraudCheckWorkflow")


@dataclass(frozen=True)
class Role:
    """What one worker process serves."""

    task_queue: str
    workflow_names: tuple[str, ...] = ()
    saga_activities: tuple[str, ...] = ()
    """Activities a payment saga calls on this queue."""
    reconciler_activities: tuple[str, ...] = ()
    """Activities only the reconciler calls."""
    max_concurrent_activities: int = 100

    @property
    def activity_names(self) -> tuple[str, ...]:
        """Every activity the role serves."""
        return self.saga_activities + self.reconciler_activities


ROLES: dict[str, Role] = {
    "payments": Role(
        PAYMENTS_QUEUE,
        ("PaymentWorkflow", "ReconcileWorkflow"),
        ("charge_payment", "void_charge"),
        (
            "list_provider_charges",
            "read_provider_charges",
            "describe_executions",
            "list_undecided_executions",
            "refund_charge",
        ),
    ),
    "accounts": Role(
        ACCOUNTS_QUEUE,
        (),
        ("validate_payment", "check_velocity", "debit_account", "refund_account"),
        (
            "list_unrefunded_debits",
            "list_unsettled_debits",
            "not_settled",
            "mark_settled",
            "repair_refund",
            "journal_repair",
        ),
        max_concurrent_activities=ACCOUNT_THREADS,
    ),
    "fraud": Role(
        FRAUD_QUEUE, ("LocalFraudCheckWorkflow", "FraudCheckWorkflow"), ("score_payment",)
    ),
    "notifications": Role(NOTIFICATIONS_QUEUE, (), ("send_notification",)),
}


def pick_activities(names: Iterable[str], implementations: Iterable[object]) -> list[Any]:
    """The method called like each activity, from the first implementation that has it."""
    objects = list(implementations)
    found = []
    for name in names:
        method = next((getattr(o, name) for o in objects if hasattr(o, name)), None)
        if method is None:
            raise LookupError(f"no implementation of activity {name!r}")
        found.append(method)
    return found


def saga_queues(
    services: object, workflows: Mapping[str, type]
) -> dict[str, tuple[list[type], list[Callable[..., Any]]]]:
    """``task queue -> (workflow classes, activities)`` serving the payment saga (no
    reconciler): the activities are ``services``' methods named like them (fakes, no-op
    services), the workflows come from ``workflows`` by name (one entry per
    :data:`SAGA_WORKFLOWS`)."""
    return {
        role.task_queue: (
            [workflows[name] for name in role.workflow_names if name in SAGA_WORKFLOWS],
            pick_activities(role.saga_activities, [services]),
        )
        for role in ROLES.values()
    }


def workflow_runner(sandboxed: bool) -> WorkflowRunner:
    """How a saga worker runs workflow code (``StackConfig.workflow_sandbox``): the SDK's sandbox,
    or directly, as the deployed workers and the benchmark's ceiling do by default."""
    return SandboxedWorkflowRunner() if sandboxed else UnsandboxedWorkflowRunner()
