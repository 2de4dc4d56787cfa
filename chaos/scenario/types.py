"""The scenario format's shared building blocks: the strict struct base and the named values.

Both the scenario file (:mod:`chaos.scenario.format`) and every fault kind (:mod:`chaos.nemesis`)
spell their fields with these, so a link, a process or a step has one spelling everywhere.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from runtime.process_names import CLUSTER_ONLY_LINKS, LINKS, PROCESS_NAMES

Rate = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]
NonNegative = Annotated[float, msgspec.Meta(ge=0.0)]
Positive = Annotated[float, msgspec.Meta(gt=0.0)]
Method = Literal["card", "bank_transfer", "wallet"]
Link = Literal["temporal", "provider", "callbacks", "fraud", "notify", "db"]
Step = Literal["validate", "debit", "charge", "await_confirmation", "await_fraud"]
#: Steps a Temporal cancel or terminate can also hit: after the decision, while compensations
#: run (``compensate``) and while the user is notified (``notify``, the state already terminal).
WorkflowStep = Literal[
    "validate",
    "debit",
    "charge",
    "await_confirmation",
    "await_fraud",
    "compensate",
    "notify",
    "done",
]
State = Literal["pending", "processing", "succeeded", "failed", "cancelled"]
CompensationKind = Literal["refund", "void", "fraud_check_cancelled"]
Build = Literal["v1", "v2"]
ProcessName = Literal[
    "temporal", "api", "sim-provider", "sim-fraud", "sim-notify",
    "worker-payments", "worker-accounts", "worker-fraud", "worker-notifications",
    "worker-accounts-2", "postgres",
    "temporal-history", "temporal-matching", "temporal-frontend", "temporal-worker",
]  # fmt: skip

assert Link.__args__ == LINKS + CLUSTER_ONLY_LINKS  # type: ignore[attr-defined]
# The Literal spells the runtime's list for the format's types and docs; they cannot drift.
assert ProcessName.__args__ == PROCESS_NAMES  # type: ignore[attr-defined]


class Strict(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Base of every scenario struct: unknown keys are errors."""
