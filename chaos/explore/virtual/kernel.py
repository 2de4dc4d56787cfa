"""A deterministic model of the Temporal server and SDK core, driving real workflow code.

The kernel runs the saga's real workflow classes through the Python SDK's own workflow
instances (the code a worker runs, fed the same activation protobufs), and plays the server and
SDK core itself: a virtual clock and one event queue hold every timer, activity attempt, retry
backoff, timeout, signal, cancel request and child workflow. Nothing runs on a thread or a socket,
so a run is a pure function of what the caller schedules: the same inputs give the same
activations in the same order, and virtual hours pass in milliseconds.

What it models, as the server and core do it:

- Workflow tasks: jobs that reach an execution within :data:`TASK_LATENCY_S` are delivered in one
  activation; the SDK orders them (patches, signals, then the rest). A failed activation is a
  failed workflow task: the execution stays RUNNING, stuck, with the failure's cause recorded.
- Activities: attempts with ``start_to_close`` and ``schedule_to_close`` timeouts and the retry
  policy's exponential backoff, ``non_retryable`` errors and ``maximum_attempts``. An attempt's
  side effect happens when the activity model says (possibly after its timeout, like a slow
  commit on a thread the worker cannot cancel; other work the worker cancels at the timeout),
  and its report is dropped when the attempt is no longer current. Cancellation types:
  ``TRY_CANCEL`` and ``ABANDON`` resolve at once while the attempt runs on;
  ``WAIT_CANCELLATION_COMPLETED`` waits for the attempt's own outcome (activities here do not
  heartbeat, so they never see the cancel); an activity not running (in backoff) is cancelled
  at once; an attempt that fails after a cancel request is not retried (``CANCEL_REQUESTED``).
- Child workflows: started at once under their id, with an execution timeout; a cancel request
  is delivered to the child as a Temporal cancel, and the parent hears of the child's close
  (``WAIT_CANCELLATION_COMPLETED``, the SDK's default) or at once (``TRY_CANCEL``, ``ABANDON``).
- Signals to a closed execution are refused; queries run on the instance as a query activation.
- Temporal cancels (``cancel_workflow``) and terminations (``terminate``).
- Local activities, as activities (the same attempts, timeouts, backoff and cancellation), except
  that a backoff past ``local_retry_threshold`` is not turned into a timer.

Left out: heartbeats (of activities and of a workflow task held by a long local activity),
continue-as-new, updates, Nexus, signals to external workflows, replay (``tests/replay`` proves
determinism against recorded histories instead).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import temporalio.api.common.v1
import temporalio.api.enums.v1
import temporalio.api.failure.v1
import temporalio.common
import temporalio.workflow
from google.protobuf.duration_pb2 import Duration
from temporalio.bridge.proto import child_workflow as child_pb
from temporalio.bridge.proto import workflow_activation as act_pb
from temporalio.bridge.proto import workflow_commands as cmd_pb
from temporalio.exceptions import ApplicationError, RetryState, TimeoutError, TimeoutType
from temporalio.worker._workflow_instance import (
    UnsandboxedWorkflowRunner,
    WorkflowInstance,
    WorkflowInstanceDetails,
)

from orchestrator.models import backoff_s
from orchestrator.payload_json import SAGA_DATA_CONVERTER

Failure = temporalio.api.failure.v1.Failure

#: Lent to the SDK while it builds an instance; never run.
_HOST_LOOP = asyncio.new_event_loop()
#: Jobs reaching an execution this close together are delivered in one workflow task.
TASK_LATENCY_S = 0.01
#: A workflow task whose worker died is retried once its timeout passes (the SDK's default).
WORKFLOW_TASK_TIMEOUT_S = 10.0
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
NAMESPACE = "virtual"
#: The stack's own converter, so the explorer checks the payloads the real workers exchange.
CONVERTER = SAGA_DATA_CONVERTER
WorkflowTaskFailedCause = temporalio.api.enums.v1.WorkflowTaskFailedCause
ActivityCancellationType = cmd_pb.ActivityCancellationType
ChildCancellationType = child_pb.ChildWorkflowCancellationType
_FailedCause = child_pb.StartChildWorkflowExecutionFailedCause
ALREADY_STARTED = _FailedCause.START_CHILD_WORKFLOW_EXECUTION_FAILED_CAUSE_WORKFLOW_ALREADY_EXISTS


@dataclass(frozen=True)
class ActivityCall:
    """One attempt of an activity, as the activity model sees it."""

    workflow_id: str
    activity_type: str
    args: list[Any]
    attempt: int
    started_at: float
    """Virtual seconds since :data:`EPOCH`."""


@dataclass(frozen=True)
class Attempt:
    """What one attempt does: after ``duration_s``, ``effect`` runs (the side effect; it
    returns the result or raises, an ``ApplicationError`` as the activity would); its report
    reaches the server ``report_after_s`` later unless the attempt is ``lost`` (its worker died
    after the effect: the attempt then ends by its start-to-close timeout)."""

    duration_s: float
    effect: Callable[[], Any]
    report_after_s: float = 0.0
    lost: bool = False
    uncancellable: bool = False
    """The work runs where cancelling the activity cannot stop it (a database call on a thread).
    Otherwise an attempt that outlives its start-to-close timeout never takes effect: the
    worker cancels it locally at the timeout, as the SDK does."""


#: Plans each activity attempt; the kernel owns the timing, the model owns the effects.
ActivityModel = Callable[[ActivityCall], Attempt]


@dataclass
class _Activity:
    execution: Execution
    seq: int
    command: Any  # cmd_pb.ScheduleActivity
    args: list[Any]
    scheduled_at: float
    attempt: int = 0
    running: bool = False
    cancel_requested: bool = False
    resolved: bool = False
    current: int = 0
    """The running attempt's token; a report or timeout of an older one is dropped."""


@dataclass
class Signal:
    """A signal the execution accepted, in delivery order."""

    name: str
    args: list[Any]
    at: float
    search_status: str | None
    """The ``PaymentStatus``-style search attribute value when it arrived."""


@dataclass
class Execution:
    """One workflow execution: its SDK instance and what the server knows of it."""

    kernel: Kernel
    workflow_id: str
    workflow_type: str
    defn: temporalio.workflow._Definition
    instance: WorkflowInstance
    parent: tuple[Execution, int, Any] | None = None
    """(parent execution, child seq, the parent's StartChildWorkflowExecution command)."""
    status: str = "RUNNING"
    """COMPLETED, FAILED, CANCELED, TERMINATED, TIMED_OUT or RUNNING."""
    stuck: bool = False
    """A workflow task failed: the server would retry it forever; nothing more runs."""
    task_failures: list[str] = field(default_factory=list)
    search_attributes: dict[str, Any] = field(default_factory=dict)
    signals: list[Signal] = field(default_factory=list)
    patches: list[str] = field(default_factory=list)
    result: Any = None
    failure: Failure | None = None
    cancel_requested: bool = False
    closed_at: float | None = None
    timers_s: list[float] = field(default_factory=list)
    """The duration of every timer it started, in order."""
    details: WorkflowInstanceDetails | None = None
    """What its instance was built from: an eviction builds a fresh one from it."""
    evictions: int = 0
    """How many times its instance was evicted and rebuilt by replaying its activations."""
    crashes: int = 0
    """How many of its workflow tasks died with their worker mid-activation (the commands
    lost, the instance rebuilt from history, the task retried after its timeout)."""
    mixed: set[tuple[str, ...]] = field(default_factory=set)
    """The kinds of job that came together in one activation (an activity result and a cancel
    request, a signal and a timer), each combination once."""
    _log: list[tuple[Any, list[Any]]] = field(default_factory=list)
    """Every workflow task's activation and the commands it completed with (queries aside)."""
    activations: int = 0
    _jobs: list[Any] = field(default_factory=list)
    _task_pending: bool = False
    _activities: dict[int, _Activity] = field(default_factory=dict)
    _timers: dict[int, int] = field(default_factory=dict)
    _children: dict[int, Execution] = field(default_factory=dict)
    _child_cancel_types: dict[int, int] = field(default_factory=dict)
    _query_results: dict[str, Any] = field(default_factory=dict)

    @property
    def open(self) -> bool:
        """The execution has not closed (a stuck one is still open)."""
        return self.status == "RUNNING"


class Kernel:
    """The virtual clock, the event queue and every execution of one run."""

    def __init__(
        self,
        workflows: Sequence[type],
        activities: ActivityModel,
        activity_types: Mapping[str, Sequence[type]],
    ) -> None:
        """``activities`` plans every attempt; ``activity_types`` gives each activity's
        parameter types, to decode the arguments the workflow sent."""
        self.now = 0.0
        self._queue: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._defns = {
            d.name: d
            for d in (temporalio.workflow._Definition.must_from_class(cls) for cls in workflows)
            if d.name is not None
        }
        self._create = UnsandboxedWorkflowRunner().create_instance
        self._host_loop = _HOST_LOOP
        self._model = activities
        self._activity_types = activity_types
        self.executions: dict[str, Execution] = {}
        self._runs = itertools.count(1)
        self.on_activity_start: list[Callable[[_Activity, Attempt], None]] = []
        """Told of every attempt as it starts (the world aims interrupts with it)."""
        self.evict: Callable[[Execution], bool] | None = None
        """Asked after each workflow task whether to evict the execution's instance and rebuild
        it by replay (:meth:`_evict`); the world draws it from the schedule's seed."""
        self.crash: Callable[[Execution], bool] | None = None
        """Asked after each activation whether its worker dies before completing the task
        (:meth:`_crashed`); the world draws it from the schedule's seed."""

    # -- the clock ---------------------------------------------------------------------------

    def at(self, delay_s: float, action: Callable[[], None]) -> None:
        """Run ``action`` ``delay_s`` virtual seconds from now (ties run in the order given)."""
        heapq.heappush(self._queue, (self.now + max(delay_s, 0.0), next(self._seq), action))

    def run(self, until_s: float = 7 * 24 * 3600.0) -> None:
        """Process events until none is left or the clock passes ``until_s``."""
        while self._queue:
            when, _, action = heapq.heappop(self._queue)
            if when > until_s:
                return
            self.now = when
            action()

    def datetime(self) -> datetime:
        """The virtual wall clock."""
        return EPOCH + timedelta(seconds=self.now)

    # -- the client's side -------------------------------------------------------------------

    def start_workflow(
        self,
        workflow_type: str,
        workflow_id: str,
        args: Sequence[Any],
        *,
        parent: tuple[Execution, int, Any] | None = None,
        execution_timeout_s: float | None = None,
    ) -> Execution:
        """Start an execution now; its first workflow task follows."""
        defn = self._defns[workflow_type]
        run_id = f"run-{next(self._runs)}"
        info = temporalio.workflow.Info(
            attempt=1,
            continued_run_id=None,
            cron_schedule=None,
            execution_timeout=timedelta(seconds=execution_timeout_s)
            if execution_timeout_s
            else None,
            first_execution_run_id=run_id,
            headers={},
            namespace=NAMESPACE,
            original_execution_run_id=run_id,
            parent=temporalio.workflow.ParentInfo(NAMESPACE, parent[0].workflow_id, "run")
            if parent
            else None,
            root=None,
            raw_memo={},
            retry_policy=None,
            run_id=run_id,
            run_timeout=None,
            search_attributes={},
            start_time=self.datetime(),
            workflow_start_time=self.datetime(),
            task_queue="virtual",
            task_timeout=timedelta(seconds=10),
            typed_search_attributes=temporalio.common.TypedSearchAttributes.empty,
            workflow_id=workflow_id,
            workflow_type=workflow_type,
            priority=temporalio.common.Priority.default,
        )
        # The SDK registers the instance on the running loop while it builds it (a worker builds
        # instances on its event loop); the kernel has none, so it lends one for the call.
        asyncio.events._set_running_loop(self._host_loop)
        try:
            details = WorkflowInstanceDetails(
                payload_converter_factory=CONVERTER._new_payload_converter,
                failure_converter_class=CONVERTER.failure_converter_class,
                interceptor_classes=[],
                defn=defn,
                info=info,
                randomness_seed=_stable_seed(workflow_id),
                extern_functions={
                    "__temporal_get_metric_meter": lambda: temporalio.common.MetricMeter.noop,
                    "__temporal_assert_local_activity_valid": lambda _name: None,
                },
                disable_eager_activity_execution=True,
                worker_level_failure_exception_types=[],
                patch_activation_callback=None,
                last_completion_result=temporalio.api.common.v1.Payloads(),
                last_failure=None,
            )
            instance = self._create(details)
        finally:
            asyncio.events._set_running_loop(None)
        execution = Execution(self, workflow_id, workflow_type, defn, instance, parent=parent)
        execution.details = details
        self.executions[workflow_id] = execution
        init = act_pb.WorkflowActivationJob()
        job = init.initialize_workflow
        job.workflow_type = workflow_type
        job.workflow_id = workflow_id
        job.arguments.extend(CONVERTER.payload_converter.to_payloads(list(args)))
        job.randomness_seed = _stable_seed(workflow_id)
        job.first_execution_run_id = run_id
        job.attempt = 1
        job.start_time.FromDatetime(self.datetime().replace(tzinfo=None))
        self._deliver(execution, init)
        if execution_timeout_s:
            self.at(execution_timeout_s, lambda: self._time_out(execution))
        return execution

    def signal(self, workflow_id: str, name: str, *args: Any) -> bool:
        """Signal an execution; False (refused) if it is unknown or closed."""
        execution = self.executions.get(workflow_id)
        if execution is None or not execution.open:
            return False
        execution.signals.append(
            Signal(name, list(args), self.now, execution.search_attributes.get("PaymentStatus"))
        )
        job = act_pb.WorkflowActivationJob()
        job.signal_workflow.signal_name = name
        job.signal_workflow.originating_event_id = next(self._seq) + 1
        job.signal_workflow.input.extend(CONVERTER.payload_converter.to_payloads(list(args)))
        self._deliver(execution, job)
        return True

    def cancel_workflow(self, workflow_id: str, reason: str = "virtual") -> bool:
        """Request a Temporal cancel; False if the execution is unknown or closed."""
        execution = self.executions.get(workflow_id)
        if execution is None or not execution.open or execution.cancel_requested:
            return False
        execution.cancel_requested = True
        job = act_pb.WorkflowActivationJob()
        job.cancel_workflow.reason = reason
        self._deliver(execution, job)
        return True

    def terminate(self, workflow_id: str) -> bool:
        """Close an execution at once; its activities in flight run on, unheard."""
        execution = self.executions.get(workflow_id)
        if execution is None or not execution.open:
            return False
        self._close(execution, "TERMINATED", failure=_failure(ApplicationError("terminated")))
        return True

    def delete(self, workflow_id: str) -> None:
        """Forget a closed execution, as ``temporal workflow delete`` (or retention) does: its
        id can be started again."""
        execution = self.executions[workflow_id]
        assert execution.closed_at is not None, "only a closed execution is deleted"
        del self.executions[workflow_id]

    def query(self, workflow_id: str, name: str, result_type: type | None = None) -> Any:
        """Run a query on the execution's instance (open or closed) and decode its answer."""
        execution = self.executions[workflow_id]
        job = act_pb.WorkflowActivationJob()
        job.query_workflow.query_id = f"q{next(self._seq)}"
        job.query_workflow.query_type = name
        completion = self._activate(execution, [job])
        for command in completion.successful.commands:
            if command.HasField("respond_to_query"):
                answer = command.respond_to_query
                if answer.HasField("failed"):
                    raise RuntimeError(f"query {name} failed: {answer.failed.message}")
                payload = answer.succeeded.response
                return CONVERTER.payload_converter.from_payloads(
                    [payload], [result_type] if result_type else None
                )[0]
        raise RuntimeError(f"query {name} got no answer")

    # -- workflow tasks ----------------------------------------------------------------------

    def _deliver(self, execution: Execution, job: Any) -> None:
        if execution.stuck or not execution.open:
            return
        execution._jobs.append(job)
        if not execution._task_pending:
            execution._task_pending = True
            self.at(TASK_LATENCY_S, lambda: self._workflow_task(execution))

    def _workflow_task(self, execution: Execution) -> None:
        execution._task_pending = False
        jobs, execution._jobs = execution._jobs, []
        if not jobs or execution.stuck or not execution.open:
            return
        kinds = tuple(sorted({str(job.WhichOneof("variant")) for job in jobs}))
        if len(kinds) > 1:
            execution.mixed.add(kinds)
        activation = self._activation(execution, jobs)
        completion = execution.instance.activate(activation)
        if completion.HasField("failed"):
            cause = completion.failed.force_cause or (
                WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_WORKFLOW_WORKER_UNHANDLED_FAILURE
            )
            name = WorkflowTaskFailedCause.Name(cause)
            execution.task_failures.append(name.removeprefix("WORKFLOW_TASK_FAILED_CAUSE_"))
            execution.stuck = True
            return
        if self.crash is not None and self.crash(execution):
            self._crashed(execution, jobs)
            return
        execution._log.append((activation, list(completion.successful.commands)))
        for command in completion.successful.commands:
            if not execution.open:
                break
            self._command(execution, command)
        if self.evict is not None and execution.open and self.evict(execution):
            self._evict(execution)

    def _crashed(self, execution: Execution, jobs: list[Any]) -> None:
        """The worker died after running the activation and before completing its task: the
        commands never reach the server, the instance (ahead of the history now) is rebuilt by
        replay, and the same jobs, with whatever arrived meanwhile, come back in a task retried
        after the workflow task timeout."""
        execution.crashes += 1
        self._evict(execution)
        if execution.stuck:
            return
        execution._jobs = [*jobs, *execution._jobs]
        execution._task_pending = True
        self.at(WORKFLOW_TASK_TIMEOUT_S, lambda: self._workflow_task(execution))

    def _evict(self, execution: Execution) -> None:
        """Drop the instance and rebuild it by replaying every activation it saw, as a worker
        that lost its cache (or crashed) does; a command that differs from the one recorded is
        non-determinism: the execution's task fails and it is stuck, as on a real worker."""
        assert execution.details is not None
        asyncio.events._set_running_loop(self._host_loop)
        try:
            fresh = self._create(execution.details)
        finally:
            asyncio.events._set_running_loop(None)
        for recorded, commands in execution._log:
            activation = act_pb.WorkflowActivation()
            activation.CopyFrom(recorded)
            activation.is_replaying = True
            # Core tells the workflow of the patch markers its history holds before it runs.
            markers = [
                c.set_patch_marker.patch_id for c in commands if c.HasField("set_patch_marker")
            ]
            notices = []
            for patch_id in markers:
                job = act_pb.WorkflowActivationJob()
                job.notify_has_patch.patch_id = patch_id
                notices.append(job)
            jobs = list(activation.jobs)
            del activation.jobs[:]
            activation.jobs.extend([*notices, *jobs])
            replayed = fresh.activate(activation)
            again = list(replayed.successful.commands) if replayed.HasField("successful") else None
            if again != commands:
                execution.task_failures.append("NONDETERMINISM_ON_REPLAY")
                execution.stuck = True
                return
        execution.instance = fresh
        execution.evictions += 1

    def _activation(self, execution: Execution, jobs: list[Any]) -> Any:
        activation = act_pb.WorkflowActivation()
        activation.run_id = "run"
        activation.timestamp.FromDatetime(self.datetime().replace(tzinfo=None))
        activation.is_replaying = False
        execution.activations += 1
        activation.history_length = execution.activations * 3
        activation.jobs.extend(jobs)
        return activation

    def _activate(self, execution: Execution, jobs: list[Any]) -> Any:
        return execution.instance.activate(self._activation(execution, jobs))

    def _command(self, execution: Execution, command: Any) -> None:
        kind = command.WhichOneof("variant")
        handler = self._handlers.get(kind or "")
        if handler is None:
            raise NotImplementedError(f"the virtual kernel does not model the {kind} command")
        handler(self, execution, getattr(command, kind))

    # -- commands ----------------------------------------------------------------------------

    def _start_timer(self, execution: Execution, command: Any) -> None:
        token = next(self._seq)
        execution._timers[command.seq] = token
        execution.timers_s.append(command.start_to_fire_timeout.ToTimedelta().total_seconds())

        def fire() -> None:
            if execution._timers.get(command.seq) == token:
                del execution._timers[command.seq]
                job = act_pb.WorkflowActivationJob()
                job.fire_timer.seq = command.seq
                self._deliver(execution, job)

        self.at(command.start_to_fire_timeout.ToTimedelta().total_seconds(), fire)

    def _cancel_timer(self, execution: Execution, command: Any) -> None:
        execution._timers.pop(command.seq, None)

    def _schedule_activity(self, execution: Execution, command: Any) -> None:
        types = self._activity_types.get(command.activity_type)
        args = CONVERTER.payload_converter.from_payloads(
            list(command.arguments), list(types) if types else None
        )
        activity = _Activity(execution, command.seq, command, args, self.now)
        execution._activities[command.seq] = activity
        self._start_attempt(activity)

    def _request_cancel_activity(self, execution: Execution, command: Any) -> None:
        activity = execution._activities.get(command.seq)
        if activity is None or activity.resolved:
            return
        kind = activity.command.cancellation_type
        if kind != ActivityCancellationType.ABANDON:
            activity.cancel_requested = True
        if not activity.running:
            activity.current = -1  # the server cancels the pending retry
            self._resolve_activity(activity, cancelled=True)
        elif kind != ActivityCancellationType.WAIT_CANCELLATION_COMPLETED:
            self._resolve_activity(activity, cancelled=True)

    def _start_child(self, execution: Execution, command: Any) -> None:
        existing = self.executions.get(command.workflow_id)
        job = act_pb.WorkflowActivationJob()
        start = job.resolve_child_workflow_execution_start
        start.seq = command.seq
        if existing is not None:
            start.failed.workflow_id = command.workflow_id
            start.failed.workflow_type = command.workflow_type
            start.failed.cause = ALREADY_STARTED
            self._deliver(execution, job)
            return
        types = self._defns[command.workflow_type].arg_types
        args = CONVERTER.payload_converter.from_payloads(list(command.input), types or None)
        timeout = (
            command.workflow_execution_timeout.ToTimedelta().total_seconds()
            if command.HasField("workflow_execution_timeout")
            else None
        )
        child = self.start_workflow(
            command.workflow_type,
            command.workflow_id,
            args,
            parent=(execution, command.seq, command),
            execution_timeout_s=timeout,
        )
        execution._children[command.seq] = child
        execution._child_cancel_types[command.seq] = command.cancellation_type
        start.succeeded.run_id = "run"
        self._deliver(execution, job)

    def _cancel_child(self, execution: Execution, command: Any) -> None:
        seq = command.child_workflow_seq
        child = execution._children.get(seq)
        if child is None or not child.open:
            return
        kind = execution._child_cancel_types.get(
            seq, ChildCancellationType.WAIT_CANCELLATION_COMPLETED
        )
        if kind != ChildCancellationType.ABANDON:
            self.cancel_workflow(child.workflow_id, command.reason or "parent cancelled")
        if kind != ChildCancellationType.WAIT_CANCELLATION_COMPLETED:
            execution._children.pop(seq)
            self._resolve_child(execution, seq, "CANCELED", None, _cancelled_failure())

    def _complete(self, execution: Execution, command: Any) -> None:
        self._close(execution, "COMPLETED", result=command.result)

    def _fail(self, execution: Execution, command: Any) -> None:
        self._close(execution, "FAILED", failure=command.failure)

    def _cancelled(self, execution: Execution, command: Any) -> None:
        self._close(execution, "CANCELED", failure=_cancelled_failure())

    def _upsert(self, execution: Execution, command: Any) -> None:
        for name, payload in command.search_attributes.indexed_fields.items():
            execution.search_attributes[name] = CONVERTER.payload_converter.from_payloads(
                [payload]
            )[0]

    def _patch(self, execution: Execution, command: Any) -> None:
        execution.patches.append(command.patch_id)

    def _ignore(self, execution: Execution, command: Any) -> None:
        """Commands with no effect on the model (metadata, queries outside a query)."""

    _handlers: dict[str, Callable[[Kernel, Execution, Any], None]] = {
        "start_timer": _start_timer,
        "cancel_timer": _cancel_timer,
        "schedule_activity": _schedule_activity,
        "request_cancel_activity": _request_cancel_activity,
        # A local activity as an activity run by the worker itself: the same attempts, timeouts,
        # backoff and cancellation types (the SDK numbers them alike), resolved the same way.
        # Backoffs past ``local_retry_threshold`` (core turns those into timers) are not told
        # apart; the saga's local activity retries well under it.
        "schedule_local_activity": _schedule_activity,
        "request_cancel_local_activity": _request_cancel_activity,
        "start_child_workflow_execution": _start_child,
        "cancel_child_workflow_execution": _cancel_child,
        "complete_workflow_execution": _complete,
        "fail_workflow_execution": _fail,
        "cancel_workflow_execution": _cancelled,
        "upsert_workflow_search_attributes": _upsert,
        "set_patch_marker": _patch,
        "respond_to_query": _ignore,
        "modify_workflow_properties": _ignore,
    }

    # -- closing -----------------------------------------------------------------------------

    def _close(
        self, execution: Execution, status: str, result: Any = None, failure: Failure | None = None
    ) -> None:
        execution.status = status
        execution.closed_at = self.now
        execution.result = result
        execution.failure = failure
        execution._timers.clear()
        for activity in execution._activities.values():
            activity.resolved = True
        for child in execution._children.values():
            if child.open:  # parent close policy TERMINATE, the SDK's default
                self._close(child, "TERMINATED")
        if execution.parent is not None:
            parent, seq, _ = execution.parent
            if parent.open and parent._children.pop(seq, None) is not None:
                self._resolve_child(parent, seq, status, result, failure)

    def _time_out(self, execution: Execution) -> None:
        if execution.open:
            execution.stuck = False
            self._close(
                execution,
                "TIMED_OUT",
                failure=_failure(
                    TimeoutError(
                        "timed out", type=TimeoutType.START_TO_CLOSE, last_heartbeat_details=[]
                    )
                ),
            )

    def _resolve_child(
        self, parent: Execution, seq: int, status: str, result: Any, failure: Failure | None
    ) -> None:
        job = act_pb.WorkflowActivationJob()
        resolution = job.resolve_child_workflow_execution
        resolution.seq = seq
        if status == "COMPLETED":
            resolution.result.completed.result.CopyFrom(result)
        else:
            wrapper = Failure(message="Child Workflow execution failed")
            info = wrapper.child_workflow_execution_failure_info
            info.namespace = NAMESPACE
            info.retry_state = temporalio.api.enums.v1.RetryState.RETRY_STATE_NON_RETRYABLE_FAILURE
            if failure is not None:
                wrapper.cause.CopyFrom(failure)
            if status == "CANCELED":
                resolution.result.cancelled.failure.CopyFrom(wrapper)
            else:
                resolution.result.failed.failure.CopyFrom(wrapper)
        self._deliver(parent, job)

    # -- activities --------------------------------------------------------------------------

    def _start_attempt(self, activity: _Activity) -> None:
        activity.attempt += 1
        activity.running = True
        token = activity.current = next(self._seq)
        call = ActivityCall(
            activity.execution.workflow_id,
            activity.command.activity_type,
            activity.args,
            activity.attempt,
            self.now,
        )
        attempt = self._model(call)
        for listener in self.on_activity_start:
            listener(activity, attempt)

        def effect() -> None:
            try:
                outcome: tuple[bool, Any] = (True, attempt.effect())
            except Exception as err:  # the activity's error, reported like a worker would
                outcome = (False, err)
            if not attempt.lost:
                self.at(attempt.report_after_s, lambda: self._report(activity, token, outcome))

        start_to_close = _seconds(activity.command.start_to_close_timeout)
        if attempt.uncancellable or not start_to_close or attempt.duration_s < start_to_close:
            self.at(attempt.duration_s, effect)
        if start_to_close:
            self.at(start_to_close, lambda: self._attempt_timed_out(activity, token))

    def _report(self, activity: _Activity, token: int, outcome: tuple[bool, Any]) -> None:
        if activity.current != token or activity.resolved:
            return  # a timed-out or abandoned attempt: the server refuses its report
        activity.running = False
        ok, value = outcome
        if ok:
            self._resolve_activity(activity, result=value)
        else:
            self._attempt_failed(activity, value)

    def _attempt_timed_out(self, activity: _Activity, token: int) -> None:
        if activity.current != token or activity.resolved:
            return
        activity.running = False
        activity.current = -1
        self._attempt_failed(
            activity,
            TimeoutError(
                "activity timed out", type=TimeoutType.START_TO_CLOSE, last_heartbeat_details=[]
            ),
        )

    def _attempt_failed(self, activity: _Activity, error: BaseException) -> None:
        policy = activity.command.retry_policy
        retryable = not (
            isinstance(error, ApplicationError)
            and (error.non_retryable or error.type in policy.non_retryable_error_types)
        )
        state = RetryState.IN_PROGRESS
        if not retryable:
            state = RetryState.NON_RETRYABLE_FAILURE
        elif activity.cancel_requested:
            state = RetryState.CANCEL_REQUESTED
        elif policy.maximum_attempts and activity.attempt >= policy.maximum_attempts:
            state = RetryState.MAXIMUM_ATTEMPTS_REACHED
        delay = _backoff(policy, activity.attempt, error)
        deadline = _seconds(activity.command.schedule_to_close_timeout)
        past_deadline = deadline and self.now + delay - activity.scheduled_at >= deadline
        if state is RetryState.IN_PROGRESS and past_deadline:
            state = RetryState.TIMEOUT
        if state is not RetryState.IN_PROGRESS:
            self._resolve_activity(activity, error=error, retry_state=state)
            return
        token = activity.current = next(self._seq)

        def retry() -> None:
            if activity.current == token and not activity.resolved:
                self._start_attempt(activity)

        self.at(delay, retry)

    def _resolve_activity(
        self,
        activity: _Activity,
        *,
        result: Any = None,
        error: BaseException | None = None,
        retry_state: RetryState = RetryState.NON_RETRYABLE_FAILURE,
        cancelled: bool = False,
    ) -> None:
        if activity.resolved:
            return
        activity.resolved = True
        job = act_pb.WorkflowActivationJob()
        resolution = job.resolve_activity
        resolution.seq = activity.seq
        if cancelled:
            wrapper = _activity_failure(activity, _cancelled_failure(), RetryState.CANCEL_REQUESTED)
            resolution.result.cancelled.failure.CopyFrom(wrapper)
        elif error is not None:
            wrapper = _activity_failure(activity, _failure(error), retry_state)
            resolution.result.failed.failure.CopyFrom(wrapper)
        else:
            resolution.result.completed.result.CopyFrom(
                CONVERTER.payload_converter.to_payloads([result])[0]
            )
        self._deliver(activity.execution, job)


def _seconds(duration: Duration) -> float:
    return duration.ToTimedelta().total_seconds() if duration.ByteSize() else 0.0


def _backoff(policy: Any, attempt: int, error: BaseException) -> float:
    if isinstance(error, ApplicationError) and error.next_retry_delay:
        return error.next_retry_delay.total_seconds()
    return backoff_s(
        attempt,
        _seconds(policy.initial_interval),
        policy.backoff_coefficient,
        _seconds(policy.maximum_interval),
    )


def _failure(error: BaseException) -> Failure:
    failure = Failure()
    CONVERTER.failure_converter.to_failure(error, CONVERTER.payload_converter, failure)
    return failure


def _cancelled_failure() -> Failure:
    failure = Failure(message="cancelled")
    failure.canceled_failure_info.SetInParent()
    return failure


def _activity_failure(activity: _Activity, cause: Failure, retry_state: RetryState) -> Failure:
    wrapper = Failure(message="Activity task failed")
    info = wrapper.activity_failure_info
    info.activity_type.name = activity.command.activity_type
    info.activity_id = activity.command.activity_id
    info.retry_state = temporalio.api.enums.v1.RetryState.ValueType(int(retry_state))
    wrapper.cause.CopyFrom(cause)
    return wrapper


def _stable_seed(text: str) -> int:
    """A seed from a string that does not depend on Python's per-process hash salt."""
    value = 1469598103934665603
    for byte in text.encode():
        value = ((value ^ byte) * 1099511628211) % 2**64
    return value
