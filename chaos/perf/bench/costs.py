"""What one payment costs Temporal: history events and (approximate) billable actions.

Actions follow Temporal Cloud's published list: a workflow start, every activity attempt
(scheduled once, then each retry), each timer, signal, child workflow start, search-attribute
upsert, marker (``workflow.patched`` writes one), and external signal/cancel request. Workflow
tasks and completions are not actions. It is an estimate for comparing builds, not an invoice.
"""

from __future__ import annotations

from dataclasses import dataclass

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory

ACTION_EVENTS = {
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED,
    EventType.EVENT_TYPE_TIMER_STARTED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED,
    EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED,
    EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES,
    EventType.EVENT_TYPE_MARKER_RECORDED,
    EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED,
    EventType.EVENT_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED,
}


@dataclass(frozen=True)
class Cost:
    """Events and actions of one workflow execution."""

    events: int
    actions: int
    workflow_tasks: int

    def __add__(self, other: Cost) -> Cost:
        return Cost(
            self.events + other.events,
            self.actions + other.actions,
            self.workflow_tasks + other.workflow_tasks,
        )


def cost_of(history: WorkflowHistory, *, child: bool = False) -> Cost:
    """The cost of one history; a child's start is already counted in its parent."""
    actions = tasks = 0
    for event in history.events:
        kind = event.event_type
        if (
            kind in ACTION_EVENTS
            and not (child and kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED)
        ) or kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            actions += 1
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            actions += max(0, event.activity_task_started_event_attributes.attempt - 1)
        elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            tasks += 1
    return Cost(len(history.events), actions, tasks)
