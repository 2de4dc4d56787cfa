"""The fraud service's child workflows (task queue ``fraud``).

``LocalFraudCheckWorkflow`` is the one payments start now (the ``validated-debit`` path): the
scoring runs as a local activity on the fraud worker, inside the child's one workflow task, so
the child writes 6 history events and takes 1 workflow task instead of 11 and 2. Retries of the
scoring (backoff under a minute) happen in the worker; a scoring slower than the workflow task
timeout keeps its task alive with heartbeats. ``FraudCheckWorkflow`` (an activity and a second
workflow task) stays registered for payments started before: a new type, not a patch, because a
patch would cost the child its own marker and search-attribute upsert.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

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
#: The scoring call's options, as an activity or a local activity.
SCORING: dict[str, Any] = {"start_to_close_timeout": SCORING_TIMEOUT, "retry_policy": SCORING_RETRY}


@workflow.defn
class FraudCheckWorkflow:
    """Scores one payment; cancelling it (the parent was cancelled) cancels the scoring."""

    @workflow.run
    async def run(self, request: FraudCheckRequest) -> FraudVerdict:
        """Ask the scoring service for a verdict."""
        verdict = await workflow.execute_activity_method(
            FraudActivities.score_payment, request, **SCORING
        )
        return _verdict(verdict)


@workflow.defn
class LocalFraudCheckWorkflow:
    """Scores one payment in one workflow task (the scoring a local activity); cancelling it
    (the parent was cancelled) cancels the scoring."""

    @workflow.run
    async def run(self, request: FraudCheckRequest) -> FraudVerdict:
        """Ask the scoring service for a verdict."""
        verdict = await workflow.execute_local_activity_method(
            FraudActivities.score_payment, request, **SCORING
        )
        return _verdict(verdict)


def _verdict(verdict: FraudVerdict) -> FraudVerdict:
    metrics.FRAUD_VERDICTS.add(verdict="pass" if verdict.passed else "fail")
    metrics.FRAUD_DURATION.record(metrics.since_start())
    return verdict
