"""Counts every activity attempt the same way: an activity interceptor on every worker.

An attempt ends ``ok``, with a transient error kind (``timeout``, ``connection``, ``http_5xx``:
``details[1]`` of the retryable errors :mod:`orchestrator.activities.http` raises), or with a
business refusal (the error's type). A retryable failure that is not the last allowed attempt
is also counted as a retry, which is what Temporal does next. Activity-only: workflows are not
intercepted, so replay is unaffected.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError, CancelledError
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from orchestrator.activities.http import TRANSIENT_KINDS
from orchestrator.activities.metrics import (
    ACTIVITY_ATTEMPTS,
    ACTIVITY_DURATION,
    ACTIVITY_RETRIES,
    ACTIVITY_RETRY_DELAY,
    attempt_label,
)


def error_kind(exc: BaseException) -> tuple[str, bool]:
    """``(kind, retryable)`` of an activity's exception."""
    if isinstance(exc, CancelledError):
        return "cancelled", False
    if isinstance(exc, ApplicationError):
        details = exc.details
        if not exc.non_retryable and len(details) > 1 and isinstance(details[1], str):
            return details[1], True
        return exc.type or "ApplicationError", not exc.non_retryable
    return type(exc).__name__, True


def _will_retry(info: activity.Info) -> bool:
    policy = info.retry_policy
    return policy is None or not policy.maximum_attempts or info.attempt < policy.maximum_attempts


class _Inbound(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        name = info.activity_type
        if info.attempt > 1:
            waited = datetime.now(UTC) - info.scheduled_time
            ACTIVITY_RETRY_DELAY.labels(name, attempt_label(info.attempt)).observe(
                waited.total_seconds()
            )
        started = time.perf_counter()
        try:
            result = await self.next.execute_activity(input)
        except BaseException as exc:
            kind, retryable = error_kind(exc)
            ACTIVITY_ATTEMPTS.labels(name, kind).inc()
            if retryable and _will_retry(info):
                ACTIVITY_RETRIES.labels(name, kind).inc()
            raise
        finally:
            ACTIVITY_DURATION.labels(name).observe(time.perf_counter() - started)
        ACTIVITY_ATTEMPTS.labels(name, "ok").inc()
        return result


class ActivityMetrics(Interceptor):
    """Worker interceptor recording the metrics of :mod:`orchestrator.activities.metrics`.

    The series of ``activities`` that a run is expected to grow (successes, and retries of each
    transient kind) are exported at 0 from the start: a counter born with its value has no
    first increase for ``rate()`` to see, and a short burst would chart as nothing.
    """

    def __init__(self, activities: Iterable[str] = ()) -> None:
        for name in activities:
            ACTIVITY_ATTEMPTS.labels(name, "ok")
            for kind in TRANSIENT_KINDS:
                ACTIVITY_RETRIES.labels(name, kind)
            for attempt in (2, 3):  # most retries: a later attempt's series is born counted
                ACTIVITY_RETRY_DELAY.labels(name, attempt_label(attempt))

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        """Wrap every activity of the worker."""
        return _Inbound(super().intercept_activity(next))
