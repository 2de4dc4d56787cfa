"""FraudCheckWorkflow: the fraud service's child workflow (task queue ``fraud``)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from orchestrator.activities.fraud import FraudActivities
    from orchestrator.models import FraudCheckRequest, FraudVerdict
    from orchestrator.workflows import metrics

SCORING_TIMEOUT = timedelta(seconds=30)
SCORING_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=10),
    maximum_attempts=5,
)


@workflow.defn
class FraudCheckWorkflow:
    """Scores one payment; cancelling it (the parent was cancelled) cancels the scoring."""

    @workflow.run
    async def run(self, request: FraudCheckRequest) -> FraudVerdict:
        """Ask the scoring service for a verdict."""
        verdict = await workflow.execute_activity_method(
            FraudActivities.score_payment,
            request,
            start_to_close_timeout=SCORING_TIMEOUT,
            retry_policy=SCORING_RETRY,
        )
        metrics.FRAUD_VERDICTS.add(verdict="pass" if verdict.passed else "fail")
        metrics.FRAUD_DURATION.record(metrics.since_start())
        return verdict
