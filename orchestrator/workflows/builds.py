"""Worker builds: which workflow code each build id runs.

``v2`` is the current code. ``v1`` is the build before the velocity check: the same workflow
with every patch (``payment.PATCHES``) switched off, so it never calls ``workflow.patched`` and
runs exactly the pre-patch paths. Keeping the previous build runnable lets the harness rehearse a
rolling upgrade (the ``rolling-upgrade`` scenario) against the real server.

Versioning behaviour per workflow type (Worker Deployment Versioning), set as the default of the
one worker role that runs that type (``VERSIONING``, used by ``orchestrator.workers``), so the
workflow code itself stays valid for unversioned workers too:

- ``PaymentWorkflow``: AUTO_UPGRADE. A payment can wait minutes for its callback, so draining
  old workers before every deploy is slow; payments move to the new build at their next task,
  which is safe because every change is patched and the replay gate proves old histories replay.
- ``LocalFraudCheckWorkflow`` and ``FraudCheckWorkflow``: PINNED. A check lives for seconds,
  so old workers drain almost at once, and a pinned child never has to replay on code it did
  not start on.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.common import VersioningBehavior

with workflow.unsafe.imports_passed_through():
    from orchestrator.models import PaymentOutcome, PaymentRequest
    from orchestrator.workflows.fraud import FraudCheckWorkflow, LocalFraudCheckWorkflow
    from orchestrator.workflows.payment import PATCHES, PaymentWorkflow
    from orchestrator.workflows.reconcile import ReconcileWorkflow

VERSIONING = {
    "PaymentWorkflow": VersioningBehavior.AUTO_UPGRADE,
    "ReconcileWorkflow": VersioningBehavior.AUTO_UPGRADE,
    "FraudCheckWorkflow": VersioningBehavior.PINNED,
    "LocalFraudCheckWorkflow": VersioningBehavior.PINNED,
}

CURRENT_BUILD = "v2"
DEPLOYMENT_NAME = "payment-saga"


@workflow.defn(name="PaymentWorkflow")
class PaymentWorkflowV1(PaymentWorkflow):
    """The previous build: none of the patches had been written yet."""

    UNRELEASED_PATCHES = frozenset(PATCHES)

    @workflow.run
    async def run(self, request: PaymentRequest) -> PaymentOutcome:
        """As in the current build."""
        return await super().run(request)


#: build id -> workflow type name -> the class that build runs for it
BUILDS: dict[str, dict[str, type]] = {
    "v1": {
        "PaymentWorkflow": PaymentWorkflowV1,
        "ReconcileWorkflow": ReconcileWorkflow,
        "FraudCheckWorkflow": FraudCheckWorkflow,
        "LocalFraudCheckWorkflow": LocalFraudCheckWorkflow,
    },
    "v2": {
        "PaymentWorkflow": PaymentWorkflow,
        "ReconcileWorkflow": ReconcileWorkflow,
        "FraudCheckWorkflow": FraudCheckWorkflow,
        "LocalFraudCheckWorkflow": LocalFraudCheckWorkflow,
    },
}
