"""PaymentService: what the API does with Temporal, free of HTTP concerns.

The payment id is the workflow id and derives from the user and the ``Idempotency-Key``. The
API's request log records each payment id it started, so a retried POST never starts a second
saga, even after Temporal has forgotten the first execution (retention); Temporal's duplicate
check settles the race of two requests. A fingerprint of the request body, in the log and in the
workflow memo, tells a replay from a conflicting reuse of a key.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import logging
import re
from collections.abc import Awaitable
from datetime import timedelta
from typing import TypeVar

import msgspec
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import HistoryEventFilterType
from temporalio.api.workflowservice.v1 import GetWorkflowExecutionHistoryRequest
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from orchestrator.api.errors import (
    IdempotencyConflict,
    PaymentAlreadyFinal,
    PaymentNotFound,
    TemporalUnavailable,
)
from orchestrator.api.metrics import (
    CALLBACKS_RECEIVED,
    CANCEL_REQUESTS,
    PAYMENT_REQUESTS_REPLAYED,
    PAYMENTS_IN_FLIGHT,
    PAYMENTS_STARTED,
)
from orchestrator.api.request_log import RequestLog
from orchestrator.api.schemas import (
    GatewayEvent,
    PaymentCreate,
    PaymentStateView,
    PaymentView,
    WebhookAck,
)
from orchestrator.models import (
    PAYMENTS_QUEUE,
    CancelRequest,
    PaymentOutcome,
    PaymentRequest,
    PaymentState,
    PaymentStatus,
    ProviderConfirmation,
    Reason,
    SagaOptions,
)
from orchestrator.workflows.payment import PAYMENT_STATUS, PaymentWorkflow

T = TypeVar("T")
log = logging.getLogger("orchestrator.api")
RUNNING_PAYMENTS = "WorkflowType = 'PaymentWorkflow' AND ExecutionStatus = 'Running'"

#: The longest ``GET /payments/{id}?wait=`` holds a request: the server's own bound on a long
#: poll of history (``history.longPollExpirationInterval``, 20 s by default).
MAX_WAIT_S = 20.0
#: What the history service keeps back from a long poll's deadline to answer in time
#: (``common.DefaultLongPollBuffer``): a wait of W seconds is a call with W + 1 s to run.
LONG_POLL_BUFFER_S = 1.0

UNAVAILABLE = {RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED}
#: Temporal is up but cannot answer this now: too many requests (RESOURCE_EXHAUSTED, e.g. many
#: concurrent ``?wait=`` reads), or a query the execution cannot serve yet (FAILED_PRECONDITION:
#: no worker has taken its first task). A client retries; before, these were 500s (issue 30).
BUSY = {RPCStatusCode.RESOURCE_EXHAUSTED, RPCStatusCode.FAILED_PRECONDITION}


PAYMENT_ID = re.compile(r"pay_[0-9a-f]{24}")


def payment_id_for(secret: str, user_id: str, idempotency_key: str) -> str:
    """The workflow id of a user's request with this key: an HMAC keyed with the server's
    ``payment_id_secret``, so nobody can compute (and probe for) another user's payment ids."""
    message = f"{user_id}\0{idempotency_key}".encode("utf-8", "surrogateescape")
    digest = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return f"pay_{digest[:24]}"


def fingerprint(body: PaymentCreate) -> str:
    """A stable hash of the request body."""
    return hashlib.sha256(msgspec.json.encode(body, order="sorted")).hexdigest()


#: The failure detail of a NOT_FOUND about the namespace, not the workflow.
NAMESPACE_NOT_FOUND = "temporal.api.errordetails.v1.NamespaceNotFoundFailure"


def namespace_not_found(error: RPCError) -> bool:
    """Whether a NOT_FOUND is about the namespace. A Temporal cluster whose database is down
    answers so (its namespace registry cannot be read): that is an outage, not an unknown
    payment, and must not tell a client to stop retrying or the provider that a callback's
    payment is gone."""
    try:
        details = error.grpc_status.details
    except Exception:  # an unparsable status: treat it as a plain NOT_FOUND
        return False
    return any(d.type_url.endswith(NAMESPACE_NOT_FOUND) for d in details)


async def _call(awaitable: Awaitable[T], payment_id: str) -> T:
    """Translate Temporal RPC failures into the API's domain errors."""
    try:
        return await awaitable
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND and namespace_not_found(exc):
            raise TemporalUnavailable(
                "Temporal cannot read its namespace (its database may be down); retry later"
            ) from exc
        if exc.status is RPCStatusCode.NOT_FOUND:
            raise PaymentNotFound(f"no payment {payment_id}") from exc
        if exc.status in UNAVAILABLE:
            raise TemporalUnavailable("Temporal is unreachable; retry later") from exc
        if exc.status in BUSY:
            raise TemporalUnavailable(
                f"Temporal cannot answer for {payment_id} now ({exc.status.name}); retry later"
            ) from exc
        raise


class PaymentService:
    """Starts, reads, cancels and confirms payments through the Temporal client."""

    def __init__(
        self, client: Client, options: SagaOptions, id_secret: str, requests: RequestLog
    ) -> None:
        self.client = client
        self.options = options
        self.id_secret = id_secret
        self.requests = requests

    def _handle(self, payment_id: str) -> WorkflowHandle[PaymentWorkflow, object]:
        # Only payment ids name payments: any other workflow id (a fraud child, the reconciler)
        # answers exactly like an unknown payment, and is never queried or signalled.
        if not PAYMENT_ID.fullmatch(payment_id):
            raise PaymentNotFound(f"no payment {payment_id}")
        return self.client.get_workflow_handle_for(PaymentWorkflow.run, payment_id)

    async def create(
        self, user_id: str, body: PaymentCreate, idempotency_key: str
    ) -> tuple[str, bool]:
        """Start the saga once per key, ever; returns ``(payment_id, created)``.

        The request log (:mod:`orchestrator.api.request_log`) decides first: a payment id whose
        saga was started is never started again, even once Temporal has forgotten its execution
        (retention, ``temporal workflow delete``), which would otherwise let a second saga take
        over the first one's money. Temporal's duplicate check settles the race of two requests.
        """
        payment_id = payment_id_for(self.id_secret, user_id, idempotency_key)
        print_ = fingerprint(body)
        recorded = await asyncio.to_thread(self.requests.claim, payment_id, user_id, print_)
        if recorded.fingerprint != print_:
            raise IdempotencyConflict("this Idempotency-Key was already used with a different body")
        if recorded.started:
            PAYMENT_REQUESTS_REPLAYED.inc()
            return payment_id, False
        request = PaymentRequest(
            payment_id, user_id, body.amount, body.currency, body.payment_method, self.options
        )
        try:
            await _call(
                self.client.start_workflow(
                    PaymentWorkflow.run,
                    request,
                    id=payment_id,
                    task_queue=PAYMENTS_QUEUE,
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                    memo={"fingerprint": print_, "user_id": user_id},
                    search_attributes=TypedSearchAttributes(
                        [SearchAttributePair(PAYMENT_STATUS, PaymentState.PENDING.value)]
                    ),
                ),
                payment_id,
            )
        except WorkflowAlreadyStartedError:
            PAYMENT_REQUESTS_REPLAYED.inc()
            description = await _call(self._handle(payment_id).describe(), payment_id)
            if await description.memo_value("fingerprint", default=None) != print_:
                raise IdempotencyConflict(
                    "this Idempotency-Key was already used with a different body"
                ) from None
            await asyncio.to_thread(self.requests.mark_started, payment_id)
            return payment_id, False
        await asyncio.to_thread(self.requests.mark_started, payment_id)
        PAYMENTS_STARTED.labels(body.payment_method).inc()
        return payment_id, True

    async def status(self, user_id: str, payment_id: str, wait_s: float = 0.0) -> PaymentView:
        """The payment's status; another user's payment is reported as not found.

        A finished payment's comes from its result (one read of its close event); a running
        one's from the ``status`` query, which the payments worker answers (and, for a closed
        execution without that result, answers by replaying the whole history). With
        ``wait_s`` (at most :data:`MAX_WAIT_S`), a running payment is waited for first: one long
        poll of the server for its close event, answered when it closes or the time is up.
        """
        status, undecided = await _call(self._final_status(user_id, payment_id, wait_s), payment_id)
        if status is None:
            status = await _call(self._handle(payment_id).query(PaymentWorkflow.status), payment_id)
        if status.user_id != user_id:
            raise PaymentNotFound(f"no payment {payment_id}")
        view = _view(ended_undecided(status) if undecided else status)
        if view.step == "charge":
            view.provider_attempts = max(
                view.provider_attempts, await self._live_charge_attempt(payment_id)
            )
        return view

    async def state(self, user_id: str, payment_id: str) -> PaymentStateView:
        """State from the ``PaymentStatus`` search attribute and whether the workflow closed.

        No workflow query: a query is answered by the payments worker and waits behind any
        queued workflow task, so pollers that only need to know *whether* it ended should use
        this, and read the full view once.
        """
        description = await _call(self._handle(payment_id).describe(), payment_id)
        if await description.memo_value("user_id", default=None) != user_id:
            raise PaymentNotFound(f"no payment {payment_id}")
        state = description.typed_search_attributes.get(PAYMENT_STATUS) or "pending"
        done = (
            description.status is not None and description.status != WorkflowExecutionStatus.RUNNING
        )
        if done and description.status != WorkflowExecutionStatus.COMPLETED:
            state = PaymentState.ended_undecided(state).value
        return msgspec.convert(
            {"payment_id": payment_id, "state": state, "done": done}, PaymentStateView
        )

    async def _final_status(
        self, user_id: str, payment_id: str, wait_s: float
    ) -> tuple[PaymentStatus | None, bool]:
        """The status in a completed payment's result (None while it runs, after ``wait_s``,
        or when it closed without one), and whether it closed undecided: terminated, timed
        out, or cancelled by the first builds (the status then comes from a query).

        The server answers a read of a running execution's close event only when it closes,
        or just before the call's deadline (less its 1 s long-poll buffer) with no event. So
        without a wait the execution is described first, and with one the read is the wait.

        The owner is checked first, from the memo the API wrote at the start (one describe):
        another user's payment costs no long poll and no query (issue 30), and answers 404.
        """
        handle = self._handle(payment_id)  # first: it refuses ids that name no payment
        description = await handle.describe()
        if await description.memo_value("user_id", default=None) != user_id:
            raise PaymentNotFound(f"no payment {payment_id}")
        if wait_s > 0:
            return await self._close_event_status(payment_id, "", wait_s + LONG_POLL_BUFFER_S)
        if description.status == WorkflowExecutionStatus.RUNNING:
            return None, False
        if description.status != WorkflowExecutionStatus.COMPLETED:
            return None, True
        return await self._close_event_status(payment_id, description.run_id, None)

    async def _close_event_status(
        self, payment_id: str, run_id: str, timeout_s: float | None
    ) -> tuple[PaymentStatus | None, bool]:
        """The status in the result of the run's close event (the current run's when
        ``run_id`` is empty), waiting for it at most ``timeout_s`` (None: it has closed), and
        whether the run closed undecided (any close but completion)."""
        response = await self.client.workflow_service.get_workflow_execution_history(
            GetWorkflowExecutionHistoryRequest(
                namespace=self.client.namespace,
                execution=WorkflowExecution(workflow_id=payment_id, run_id=run_id),
                history_event_filter_type=HistoryEventFilterType.HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT,
                wait_new_event=timeout_s is not None,
            ),
            retry=True,
            timeout=None if timeout_s is None else timedelta(seconds=timeout_s),
        )
        for event in response.history.events:
            if event.HasField("workflow_execution_completed_event_attributes"):
                payloads = event.workflow_execution_completed_event_attributes.result.payloads
                (outcome,) = await self.client.data_converter.decode(payloads, [PaymentOutcome])
                return (outcome.status if isinstance(outcome, PaymentOutcome) else None), False
            return None, True  # any other close event: terminated, timed out, cancelled
        return None, False

    async def _live_charge_attempt(self, payment_id: str) -> int:
        # The workflow learns the attempt count only when the charge resolves; while Temporal
        # is still retrying it, the server's pending-activity record has the live count.
        description = await _call(self._handle(payment_id).describe(), payment_id)
        attempts = [
            pending.attempt
            for pending in description.raw_description.pending_activities
            if pending.activity_type.name == "charge_payment"
        ]
        return max(attempts, default=0)

    async def cancel(self, user_id: str, payment_id: str) -> None:
        """Signal ``cancel`` without a workflow query, so it works with the workers down.

        Ownership and state come from the server (memo, ``PaymentStatus``, close status); the
        signal is stored durably and acted on when the saga next runs. A terminal payment or a
        closed execution cannot be cancelled (409).
        """
        handle = self._handle(payment_id)
        description = await _call(handle.describe(), payment_id)
        if await description.memo_value("user_id", default=None) != user_id:
            raise PaymentNotFound(f"no payment {payment_id}")
        state = description.typed_search_attributes.get(PAYMENT_STATUS) or "pending"
        if description.status != WorkflowExecutionStatus.RUNNING or PaymentState(state).terminal:
            CANCEL_REQUESTS.labels("already_final").inc()
            closed = description.status.name.lower() if description.status else "closed"
            detail = state if PaymentState(state).terminal else f"closed ({closed})"
            raise PaymentAlreadyFinal(f"payment {payment_id} is already {detail}")
        try:
            await _call(handle.signal(PaymentWorkflow.cancel, CancelRequest()), payment_id)
        except PaymentNotFound:
            CANCEL_REQUESTS.labels("already_final").inc()
            raise PaymentAlreadyFinal(f"payment {payment_id} closed meanwhile") from None
        CANCEL_REQUESTS.labels("accepted").inc()

    async def confirm(self, event: GatewayEvent) -> WebhookAck:
        """Pass a verified provider callback to its saga; a finished or unknown one is ignored."""
        confirmation = ProviderConfirmation(event.event_id, event.charge_id, event.status)
        try:
            await _call(
                self._handle(event.payment_id).signal(
                    PaymentWorkflow.provider_confirmation, confirmation
                ),
                event.payment_id,
            )
        except PaymentNotFound:
            CALLBACKS_RECEIVED.labels("ignored").inc()
            return WebhookAck(result="ignored", reason="payment unknown or already finished")
        CALLBACKS_RECEIVED.labels("delivered").inc()
        return WebhookAck(result="delivered")

    async def count_in_flight(self) -> int:
        """Running payment workflows, from Temporal visibility."""
        result = await self.client.count_workflows(RUNNING_PAYMENTS)
        return result.count

    async def track_in_flight(self, every_s: float = 5.0) -> None:
        """Keep :data:`PAYMENTS_IN_FLIGHT` current until cancelled; outages are skipped."""
        while True:
            try:
                PAYMENTS_IN_FLIGHT.set(await self.count_in_flight())
            except RPCError as exc:
                log.debug("in-flight count failed: %s", exc)
            await asyncio.sleep(every_s)


def ended_undecided(status: PaymentStatus) -> PaymentStatus:
    """``status`` as the API shows a payment whose execution closed without deciding: its
    final state (:meth:`PaymentState.ended_undecided`), reason ``terminated`` unless its saga
    had decided one, and no step left to run (issue 34, item 8: it read ``processing`` for
    ever)."""
    state = PaymentState.ended_undecided(status.state).value
    reason = status.reason if status.state == state else Reason.TERMINATED.value
    return dataclasses.replace(status, state=state, reason=reason, step="done")


def _view(status: PaymentStatus) -> PaymentView:
    return msgspec.convert(status, PaymentView, from_attributes=True)
