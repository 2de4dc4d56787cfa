"""The role table is the one list of activities per task queue: the real activity classes
implement each name under the same activity name, and serving a role lacking one fails."""

from __future__ import annotations

import pytest
from temporalio import activity

from orchestrator.activities.accounts import AccountActivities
from orchestrator.activities.fraud import FraudActivities
from orchestrator.activities.notifications import NotificationActivities
from orchestrator.activities.provider import ProviderActivities
from orchestrator.activities.reconcile import ReconcileActivities
from orchestrator.roles import ROLES, pick_activities

CLASSES = (
    AccountActivities,
    FraudActivities,
    NotificationActivities,
    ProviderActivities,
    ReconcileActivities,
)


def test_every_role_activity_is_a_real_activity_of_that_name() -> None:
    for role in ROLES.values():
        for method in pick_activities(role.activity_names, CLASSES):
            definition = activity._Definition.from_callable(method)
            assert definition is not None and definition.name == method.__name__


def test_a_missing_activity_is_refused() -> None:
    with pytest.raises(LookupError, match="charge_payment"):
        pick_activities(["charge_payment"], [AccountActivities])
