"""The virtual kernel plays Temporal's part as the server and SDK core do: timers, retries with
backoff, timeouts, cancellation types, child workflows, signals and queries, in virtual time.

Each test drives a small workflow through the kernel; the saga itself is tested through it in
``test_virtual_explorer.py``.
"""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

import pytest
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError

from chaos.explore.virtual.kernel import CONVERTER, ActivityCall, Attempt, Kernel

RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=5),
    maximum_attempts=4,
)


@workflow.defn
class Calls:
    """Calls ``work`` once with the given cancellation type; cancellable by a signal."""

    def __init__(self) -> None:
        self.outcome = "pending"
        self.stop = False

    @workflow.run
    async def run(self, cancellation: str) -> str:
        task = workflow.start_activity(
            "work",
            "x",
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RETRY,
            cancellation_type=workflow.ActivityCancellationType[cancellation],
        )
        await workflow.wait_condition(lambda: self.stop or task.done())
        if not task.done():
            task.cancel()
        try:
            self.outcome = f"ok {await task} at {workflow.now().timestamp():.0f}"
        except ActivityError as err:
            self.outcome = (
                f"{type(err.cause).__name__} {err.retry_state.name if err.retry_state else ''}"
            )
        return self.outcome

    @workflow.signal
    def halt(self) -> None:
        self.stop = True

    @workflow.query
    def seen(self) -> str:
        return self.outcome


@workflow.defn
class Sleeps:
    @workflow.run
    async def run(self, seconds: float) -> float:
        await workflow.sleep(seconds)
        return workflow.now().timestamp()


@workflow.defn
class Parent:
    @workflow.run
    async def run(self, child_seconds: float) -> str:
        try:
            await workflow.execute_child_workflow(
                Sleeps.run,
                child_seconds,
                id="child",
                execution_timeout=timedelta(seconds=10),
            )
        except ChildWorkflowError as err:
            return type(err.cause).__name__
        return "child done"


class Work:
    """The activity model: ``fail`` attempts fail (retryably), each lasts ``duration_s``."""

    def __init__(
        self, fail: int = 0, duration_s: float = 0.5, fatal: bool = False, thread: bool = False
    ) -> None:
        self.fail, self.duration_s, self.fatal, self.thread = fail, duration_s, fatal, thread
        self.calls: list[ActivityCall] = []
        self.effects: list[float] = []

    def __call__(self, call: ActivityCall) -> Attempt:
        self.calls.append(call)
        return Attempt(self.duration_s, lambda: self._effect(call), uncancellable=self.thread)

    def _effect(self, call: ActivityCall) -> Any:
        self.effects.append(call.started_at + self.duration_s)
        if call.attempt <= self.fail:
            raise ApplicationError("down", non_retryable=self.fatal)
        return "done"


def run(workflow_type: str, arg: Any, work: Work, **signals: float) -> Kernel:
    kernel = Kernel([Calls, Sleeps, Parent], work, {"work": [str]})
    kernel.start_workflow(workflow_type, "w", [arg])
    for name, at in signals.items():
        kernel.at(at, lambda name=name: kernel.signal("w", name))  # type: ignore[misc]
    kernel.run()
    return kernel


def outcome(kernel: Kernel, workflow_id: str = "w") -> Any:
    execution = kernel.executions[workflow_id]
    return kernel.query(workflow_id, "seen") if execution.workflow_type == "Calls" else None


def test_a_timer_fires_in_virtual_time() -> None:
    kernel = run("Sleeps", 300.0, Work())
    assert kernel.executions["w"].status == "COMPLETED"
    assert 300 <= kernel.now < 301  # five minutes, in a few milliseconds of wall time


def test_retries_back_off_exponentially_and_stop_at_maximum_attempts() -> None:
    work = Work(fail=10)
    kernel = run("Calls", "TRY_CANCEL", work)
    starts = [round(c.started_at, 2) for c in work.calls]
    # 0.5 s per attempt, then 1, 2, 4 s of backoff (capped at 5): four attempts in all.
    assert [c.attempt for c in work.calls] == [1, 2, 3, 4]
    assert [round(b - a, 2) for a, b in itertools.pairwise(starts)] == [1.5, 2.5, 4.5]
    assert outcome(kernel) == "ApplicationError MAXIMUM_ATTEMPTS_REACHED"


def test_a_non_retryable_error_is_not_retried() -> None:
    work = Work(fail=1, fatal=True)
    kernel = run("Calls", "TRY_CANCEL", work)
    assert len(work.calls) == 1
    assert outcome(kernel) == "ApplicationError NON_RETRYABLE_FAILURE"


def test_an_attempt_past_its_timeout_is_retried_and_the_worker_cancels_it() -> None:
    work = Work(duration_s=12.0)  # every attempt outlives its 10 s start-to-close timeout
    kernel = run("Calls", "TRY_CANCEL", work)
    assert outcome(kernel) == "TimeoutError MAXIMUM_ATTEMPTS_REACHED"
    assert len(work.calls) == 4 and work.effects == []  # cancelled locally at the timeout


def test_work_the_worker_cannot_cancel_takes_effect_after_its_timeout() -> None:
    work = Work(duration_s=12.0, thread=True)
    kernel = run("Calls", "TRY_CANCEL", work)
    assert outcome(kernel) == "TimeoutError MAXIMUM_ATTEMPTS_REACHED"
    assert len(work.effects) == 4  # each attempt's database call committed after it timed out


def test_try_cancel_resolves_at_once_while_the_attempt_runs_on() -> None:
    work = Work(duration_s=5.0)
    kernel = run("Calls", "TRY_CANCEL", work, halt=1.0)
    assert outcome(kernel) == "CancelledError CANCEL_REQUESTED"
    assert work.effects == [pytest.approx(5.01)]  # the abandoned attempt still took effect


def test_wait_cancellation_completed_waits_for_the_attempt_in_flight() -> None:
    work = Work(duration_s=5.0)
    kernel = run("Calls", "WAIT_CANCELLATION_COMPLETED", work, halt=1.0)
    assert outcome(kernel).startswith("ok done at")  # no heartbeat: it never saw the cancel
    assert work.effects == [pytest.approx(5.01)]


def test_a_cancel_during_backoff_cancels_the_retry() -> None:
    work = Work(fail=10, duration_s=0.5)
    kernel = run("Calls", "WAIT_CANCELLATION_COMPLETED", work, halt=1.0)
    assert outcome(kernel) == "CancelledError CANCEL_REQUESTED"
    assert len(work.calls) == 1


def test_a_child_that_outlives_its_execution_timeout_times_out() -> None:
    kernel = run("Parent", 30.0, Work())
    assert kernel.executions["child"].status == "TIMED_OUT"
    parent = kernel.executions["w"]
    assert parent.status == "COMPLETED"
    assert CONVERTER.payload_converter.from_payloads([parent.result]) == ["TimeoutError"]


def test_signals_to_a_closed_execution_are_refused_and_queries_still_answer() -> None:
    kernel = run("Calls", "TRY_CANCEL", Work())
    assert kernel.executions["w"].status == "COMPLETED"
    assert not kernel.signal("w", "halt")
    assert kernel.query("w", "seen").startswith("ok done")


def test_a_temporal_cancel_of_an_open_execution_reaches_the_workflow() -> None:
    kernel = Kernel([Sleeps], Work(), {})
    kernel.start_workflow("Sleeps", "w", [60.0])
    kernel.at(1.0, lambda: kernel.cancel_workflow("w"))
    kernel.run()
    assert kernel.executions["w"].status == "CANCELED"


@pytest.mark.parametrize("until", [0.1, 2.0])
def test_the_same_inputs_give_the_same_run(until: float) -> None:
    def trace() -> list[tuple[int, float]]:
        work = Work(fail=2, duration_s=0.3)
        run("Calls", "TRY_CANCEL", work, halt=until)
        return [(c.attempt, c.started_at) for c in work.calls]

    assert trace() == trace()


#: A workflow that is not deterministic: what it sleeps depends on how many instances were built.
BUILT = itertools.count()


@workflow.defn
class Flaky:
    def __init__(self) -> None:
        self.built = next(BUILT)

    @workflow.run
    async def run(self, rounds: int) -> int:
        for i in range(rounds):
            await workflow.sleep(1 + self.built * (i == rounds - 1))
        return rounds


def test_an_evicted_instance_is_rebuilt_by_replay_and_runs_on() -> None:
    kernel = Kernel([Calls, Sleeps], Work(), {"work": [str]})
    kernel.evict = lambda _: True  # after every workflow task
    kernel.start_workflow("Calls", "w", ["TRY_CANCEL"])
    kernel.run()
    execution = kernel.executions["w"]
    assert execution.status == "COMPLETED" and execution.evictions >= 1
    assert execution.task_failures == []
    assert kernel.query("w", "seen").startswith("ok done")


def test_a_command_that_differs_on_replay_is_non_determinism() -> None:
    kernel = Kernel([Flaky], Work(), {})
    kernel.evict = lambda _: True
    kernel.start_workflow("Flaky", "w", [3])
    kernel.run()
    execution = kernel.executions["w"]
    assert execution.task_failures == ["NONDETERMINISM_ON_REPLAY"]
    assert execution.stuck and execution.status == "RUNNING"
