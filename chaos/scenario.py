"""Scenario files (``scenarios/*.yaml``): the typed, strict format and its loader.

Loading is the first step of a run: ``load_scenario`` reads YAML, decodes it with msgspec
(unknown keys are errors) and runs the checks msgspec cannot express (toxic attributes, knob
changes); every error names the file and the YAML path, e.g.
``scenarios/x.yaml: faults[1].attributes.latency: expected >= 0``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, NoReturn

import msgspec
import yaml

from chaos.errors import ScenarioError
from chaos.format_errors import located
from orchestrator.models import DEFAULT_ACCOUNT_RETRY, SagaOptions
from runtime.links import LINKS
from runtime.process_names import PROCESS_NAMES
from simulators.fraud import FraudKnobs
from simulators.notifications import NotificationKnobs
from simulators.provider import ProviderKnobs

SCENARIOS_DIR = Path(__file__).resolve().parent.parent / "scenarios"

Rate = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]
NonNegative = Annotated[float, msgspec.Meta(ge=0.0)]
Positive = Annotated[float, msgspec.Meta(gt=0.0)]
Method = Literal["card", "bank_transfer", "wallet"]
Link = Literal["temporal", "provider", "callbacks", "fraud", "notify"]
Step = Literal["validate", "debit", "charge", "await_confirmation", "await_fraud"]
State = Literal["pending", "processing", "succeeded", "failed", "cancelled"]
CompensationKind = Literal["refund", "void", "fraud_check_cancelled"]
Build = Literal["v1", "v2"]
ProcessName = Literal[
    "temporal", "api", "sim-provider", "sim-fraud", "sim-notify",
    "worker-payments", "worker-accounts", "worker-fraud", "worker-notifications",
]  # fmt: skip

assert set(Link.__args__) == set(LINKS)  # type: ignore[attr-defined]
# The Literal spells the runtime's list for the format's types and docs; they cannot drift.
assert ProcessName.__args__ == PROCESS_NAMES  # type: ignore[attr-defined]


class Strict(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Base of every scenario struct: unknown keys are errors."""


# -- workload --------------------------------------------------------------------------------


class UserSpec(Strict, kw_only=True):
    """An account the scenario creates (named ``<scenario>.<name>`` in the ledger)."""

    name: Annotated[str, msgspec.Meta(pattern="^[a-z][a-z0-9_-]{0,30}$")]
    balance: Annotated[int, msgspec.Meta(ge=0)] = 1_000_000
    active: bool = True
    methods: list[Method] | None = None


class AmountRange(Strict, kw_only=True):
    """Amounts drawn uniformly from ``min`` to ``max`` (minor units)."""

    min: Annotated[int, msgspec.Meta(gt=0)]
    max: Annotated[int, msgspec.Meta(gt=0)]


class CancelSpec(Strict, kw_only=True):
    """Cancel a share of the payments when they reach one of ``at_steps``, or after a delay."""

    share: Rate
    at_steps: list[Step] | None = None
    after_s: NonNegative | None = None


class Workload(Strict, kw_only=True):
    """What the scenario sends."""

    payments: Annotated[int, msgspec.Meta(ge=0, le=10_000)] = 10
    rate_per_s: Positive | None = None
    """Payments per second; absent: all at once."""
    users: list[UserSpec] = msgspec.field(default_factory=lambda: [UserSpec(name="payer")])
    amount: Annotated[int, msgspec.Meta(gt=0)] | AmountRange = 1_000
    methods: list[Method] = msgspec.field(default_factory=lambda: ["card"])
    cancels: CancelSpec | None = None
    invalid_requests: Annotated[int, msgspec.Meta(ge=0)] = 0
    """Malformed or unauthorised requests sent alongside; each must be refused."""
    forged_callbacks: Annotated[int, msgspec.Meta(ge=0)] = 0
    """Callbacks with bad signatures sent for payments in flight; each must be refused."""


class Simulators(Strict, kw_only=True):
    """Knobs of each simulator for the whole run (defaults for what is not set)."""

    provider: ProviderKnobs = msgspec.field(default_factory=ProviderKnobs)
    fraud: FraudKnobs = msgspec.field(default_factory=FraudKnobs)
    notifications: NotificationKnobs = msgspec.field(default_factory=NotificationKnobs)


class RetrySettings(Strict, kw_only=True):
    """A step's retry policy: exponential backoff, then the step gives up."""

    initial_interval_s: Positive = 1.0
    backoff_coefficient: Annotated[float, msgspec.Meta(ge=1.0)] = 2.0
    maximum_interval_s: Positive = 30.0
    maximum_attempts: Annotated[int, msgspec.Meta(ge=1)] = 6


def _account_retry() -> RetrySettings:
    return msgspec.convert(msgspec.to_builtins(DEFAULT_ACCOUNT_RETRY), RetrySettings)


class Settings(Strict, kw_only=True):
    """Saga settings for this run; the production defaults stay in ``SagaOptions``."""

    callback_timeout_s: Positive = 300.0
    charge_retry: RetrySettings = msgspec.field(default_factory=RetrySettings)
    max_amount: Annotated[int, msgspec.Meta(gt=0)] = 1_000_000
    fraud_timeout_s: Positive = 60.0
    velocity_window_s: Positive = 60.0
    velocity_max_payments: Annotated[int, msgspec.Meta(ge=1)] = 100
    account_retry: RetrySettings = msgspec.field(default_factory=_account_retry)
    """Retry policy of validate and debit; when it runs out the payment fails with reason
    ``accounts_unavailable`` (compensations keep retrying without a limit)."""

    def saga_options(self) -> SagaOptions:
        """The workflow-side form of these settings."""
        return msgspec.convert(msgspec.to_builtins(self), SagaOptions)


# -- faults ----------------------------------------------------------------------------------


class FaultBase(Strict, kw_only=True):
    """When a fault starts (seconds after the workload starts) and how long it lasts."""

    at_s: NonNegative = 0.0
    duration_s: Positive = 5.0
    expect_effect: bool = True
    """A fault whose effect the harness cannot see fails the run ("fault had no effect"),
    unless this is false (a fault that may legitimately touch nothing)."""


ToxicType = Literal[
    "latency", "bandwidth", "timeout", "reset_peer", "slicer", "limit_data", "slow_close"
]
TOXIC_ATTRIBUTES: dict[str, set[str]] = {
    "latency": {"latency", "jitter"},
    "bandwidth": {"rate"},
    "timeout": {"timeout"},
    "reset_peer": {"timeout"},
    "slicer": {"average_size", "size_variation", "delay"},
    "limit_data": {"bytes"},
    "slow_close": {"delay"},
}


class ToxicFault(FaultBase, tag="toxic", tag_field="kind", kw_only=True):
    """A Toxiproxy toxic on a link (attributes as Toxiproxy names them, e.g. ``latency`` ms)."""

    link: Link
    toxic: ToxicType
    attributes: dict[str, int] = msgspec.field(default_factory=dict)
    stream: Literal["upstream", "downstream"] = "downstream"
    toxicity: Rate = 1.0


class LinkDownFault(FaultBase, tag="link_down", tag_field="kind", kw_only=True):
    """A link refuses connections and drops the open ones for a while."""

    link: Link


class ProcessFault(FaultBase, tag="process", tag_field="kind", kw_only=True):
    """``kill`` (-9, restarted after ``duration_s``), ``restart`` (clean) or ``pause`` (SIGSTOP)."""

    target: ProcessName
    action: Literal["kill", "restart", "pause"]


class UpgradeFault(FaultBase, tag="upgrade", tag_field="kind", kw_only=True):
    """Roll out ``build``: start its workers, make it the current deployment version, wait
    ``duration_s`` for the old build to drain, stop the old workers."""

    build: Build


class KnobsFault(FaultBase, tag="knobs", tag_field="kind", kw_only=True):
    """Change a simulator's knobs mid-run, restored after ``duration_s``."""

    simulator: Literal["provider", "fraud", "notifications"]
    set: dict[str, Any]


class WorkflowFault(FaultBase, tag="workflow", tag_field="kind", kw_only=True):
    """The Temporal API cancels (``temporal workflow cancel``) or terminates a ``share`` of the
    payments, chosen by the seed, when each reaches ``at_step``, within the fault's window
    (``at_s`` to ``at_s + duration_s``). Terminated payments are repaired by the reconciler."""

    action: Literal["cancel", "terminate"]
    share: Rate = 1.0
    at_step: Step


LedgerOperation = Literal["validate", "debit", "refund"]


class LedgerFault(FaultBase, tag="ledger", tag_field="kind", kw_only=True):
    """``unavailable``: the accounts database refuses all work for the window (the harness holds
    an exclusive lock; each operation fails after the ledger's 5 s lock wait and is retried),
    then recovers. ``slow``: each of ``operations`` takes ``latency_ms`` longer in the account
    service (a failpoint), e.g. to hold payments in their debit."""

    action: Literal["unavailable", "slow"]
    latency_ms: Annotated[int, msgspec.Meta(ge=0)] = 0
    operations: list[LedgerOperation] = msgspec.field(default_factory=lambda: ["debit"])
    after_commit: bool = False
    """``slow``: the delay comes after the operation took effect, before it answers."""


Fault = (
    ToxicFault | LinkDownFault | ProcessFault | KnobsFault | UpgradeFault | WorkflowFault
    | LedgerFault
)  # fmt: skip


# -- expectations ----------------------------------------------------------------------------


class Count(Strict, kw_only=True):
    """Bounds on a count, as numbers and/or as a share of the scenario's payments."""

    min: Annotated[int, msgspec.Meta(ge=0)] | None = None
    max: Annotated[int, msgspec.Meta(ge=0)] | None = None
    min_share: Rate | None = None
    max_share: Rate | None = None


class Expect(Strict, kw_only=True):
    """What must hold at the end of the run."""

    states: dict[State, Count] = msgspec.field(default_factory=dict)
    reasons: dict[str, Count] = msgspec.field(default_factory=dict)
    compensations: dict[CompensationKind, Count] = msgspec.field(default_factory=dict)
    max_provider_attempts: Count | None = None
    """Bounds on the largest provider attempt count of any payment."""
    late_callbacks_ignored: Count | None = None
    """Payments that timed out and whose callback then reached the still-open execution (a
    signal after the decision in its history), which the saga ignored."""
    duplicate_callbacks: Count | None = None
    """Payments whose execution received a redelivered callback (same event id), which the saga
    recognised as a duplicate."""
    foreign_callbacks: Count | None = None
    """Payments whose execution received a callback for a charge that is not theirs."""
    deadline_s: Positive = 60.0
    """Every payment must be terminal this long after it was created."""
    invariants: bool = True
    """Money conserved, no double debit, refunds exactly once (DESIGN.md)."""
    notifications: bool = True
    """Every terminal payment produced a notification attempt."""
    reconciled: Count | None = None
    """Repairs the reconciler made (the runner triggers it before collecting evidence)."""
    upgrade_paths: bool = False
    """From histories: payments created before an upgrade took the old path, those created
    after it the new one, and no workflow task failed with non-determinism."""


class Scenario(Strict, kw_only=True):
    """One named chaos scenario."""

    name: Annotated[str, msgspec.Meta(pattern="^[a-z0-9][a-z0-9-]*$")]
    description: str
    tags: list[str] = msgspec.field(default_factory=list)
    seed: int = 1
    build: Build = "v2"
    """The worker build the scenario starts on (``orchestrator.workflows.builds``)."""
    workload: Workload = msgspec.field(default_factory=Workload)
    simulators: Simulators = msgspec.field(default_factory=Simulators)
    settings: Settings = msgspec.field(default_factory=Settings)
    faults: list[Fault] = msgspec.field(default_factory=list)
    expect: Expect = msgspec.field(default_factory=Expect)

    @property
    def needs_reconciler(self) -> bool:
        """Whether the runner runs a reconciliation pass before collecting evidence."""
        terminates = any(
            isinstance(f, WorkflowFault) and f.action == "terminate" for f in self.faults
        )
        return terminates or self.expect.reconciled is not None

    @property
    def needs_toxiproxy(self) -> bool:
        """Whether any fault acts on a link."""
        return any(isinstance(f, ToxicFault | LinkDownFault) for f in self.faults)


#: A toxic does nothing useful without these attributes.
TOXIC_REQUIRED: dict[str, set[str]] = {
    "latency": {"latency"},
    "bandwidth": {"rate"},
    "timeout": {"timeout"},
    "reset_peer": set(),
    "slicer": {"average_size"},
    "limit_data": {"bytes"},
    "slow_close": {"delay"},
}
#: Simulators that keep their state in memory: a kill or restart would wipe it (the provider's
#: charges, the notification outbox) and make a correct saga fail its checks.
STATEFUL = {"sim-provider": "its charges", "sim-notify": "its outbox"}


def _check(scenario: Scenario, source: str) -> None:
    """The rules msgspec cannot express, with the same file-and-path errors."""

    def refuse(path: str, problem: str) -> NoReturn:
        raise ScenarioError(f"{source}: {path}: {problem}")

    workload = scenario.workload
    horizon = (
        (workload.payments - 1) / workload.rate_per_s if workload.rate_per_s else 0.0
    ) + scenario.expect.deadline_s
    for i, fault in enumerate(scenario.faults):
        where = f"faults[{i}]"
        if fault.at_s >= horizon:
            refuse(
                f"{where}.at_s",
                f"starts at {fault.at_s:g} s, after the run ends ({horizon:g} s: the last"
                " payment's send time plus expect.deadline_s)",
            )
        if isinstance(fault, ToxicFault):
            allowed = TOXIC_ATTRIBUTES[fault.toxic]
            for key, value in fault.attributes.items():
                if value < 0:
                    refuse(f"{where}.attributes.{key}", "expected >= 0")
                if key not in allowed:
                    refuse(
                        f"{where}.attributes.{key}",
                        f"not an attribute of the {fault.toxic} toxic (expected one of:"
                        f" {', '.join(sorted(allowed))})",
                    )
            if fault.link == "temporal" and fault.toxicity < 1:
                refuse(
                    f"{where}.toxicity",
                    "partial toxicity acts per HTTP request, and the temporal link carries gRPC"
                    " streams: use 1.0 there",
                )
            missing = TOXIC_REQUIRED[fault.toxic] - set(fault.attributes)
            if missing:
                refuse(
                    f"{where}.attributes",
                    f"the {fault.toxic} toxic needs {', '.join(sorted(missing))}",
                )
        if isinstance(fault, ProcessFault) and fault.action != "pause" and fault.target in STATEFUL:
            refuse(
                f"{where}.target",
                f"{fault.target} keeps {STATEFUL[fault.target]} in memory: a {fault.action}"
                " would wipe it and fail a correct saga (pause it, or break its link)",
            )
        if isinstance(fault, LedgerFault) and fault.action == "slow" and not fault.latency_ms:
            refuse(f"{where}.latency_ms", "a slow ledger needs latency_ms > 0")
        if isinstance(fault, LedgerFault) and fault.action == "slow" and not fault.operations:
            refuse(f"{where}.operations", "empty list")
        if isinstance(fault, KnobsFault):
            base = getattr(scenario.simulators, fault.simulator)
            merged = {**msgspec.to_builtins(base), **fault.set}
            try:
                msgspec.convert(merged, type(base))
            except msgspec.ValidationError as exc:
                raise ScenarioError(
                    located(source, type(base), merged, exc, f"$.faults[{i}].set")
                ) from exc
    for i, user in enumerate(workload.users):
        if user.methods is not None and not user.methods:
            refuse(f"workload.users[{i}].methods", "empty list")
    amount = workload.amount
    if isinstance(amount, AmountRange) and amount.min > amount.max:
        refuse("workload.amount", f"min {amount.min} > max {amount.max}")
    if not workload.users:
        refuse("workload.users", "at least one user is needed")
    cancels = workload.cancels
    if cancels and (not cancels.at_steps) == (cancels.after_s is None):
        refuse("workload.cancels", "give exactly one of at_steps, after_s")
    for path, count in _counts(scenario.expect):
        if count.min is not None and count.max is not None and count.min > count.max:
            refuse(path, f"min {count.min} > max {count.max}")
        if (
            count.min_share is not None
            and count.max_share is not None
            and count.min_share > count.max_share
        ):
            refuse(path, f"min_share {count.min_share:g} > max_share {count.max_share:g}")


def _counts(expect: Expect) -> list[tuple[str, Count]]:
    """Every count bound of the expectations, with its path in the file."""
    counts = [
        (f"expect.{group}.{key}", count)
        for group in ("states", "reasons", "compensations")
        for key, count in getattr(expect, group).items()
    ]
    for name in (
        "max_provider_attempts",
        "late_callbacks_ignored",
        "duplicate_callbacks",
        "foreign_callbacks",
        "reconciled",
    ):
        count = getattr(expect, name)
        if count is not None:
            counts.append((f"expect.{name}", count))
    return counts


def parse_scenario(text: str, source: str) -> Scenario:
    """Decode and check scenario YAML; ``source`` names it in errors."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{source}: not valid YAML: {exc}") from exc
    try:
        scenario = msgspec.convert(data, Scenario)
    except msgspec.ValidationError as exc:
        raise ScenarioError(located(source, Scenario, data, exc)) from exc
    _check(scenario, source)
    return scenario


def load_scenario(path: Path) -> Scenario:
    """Read one scenario file; its ``name`` must match the file name."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read: {exc.strerror}") from exc
    scenario = parse_scenario(text, str(path))
    if scenario.name != path.stem:
        raise ScenarioError(f"{path}: name: {scenario.name!r} does not match the file name")
    return scenario


def scenario_files(directory: Path = SCENARIOS_DIR) -> list[Path]:
    """Every scenario file, sorted by name."""
    return sorted(directory.glob("*.yaml"))


def find_scenario(name: str, directory: Path = SCENARIOS_DIR) -> Path:
    """The file of a named scenario (or a path given directly)."""
    direct = Path(name)
    if direct.suffix in (".yaml", ".yml") and direct.exists():
        return direct
    path = directory / f"{name}.yaml"
    if not path.exists():
        known = ", ".join(p.stem for p in scenario_files(directory))
        raise ScenarioError(f"no scenario named {name!r} (known: {known})")
    return path
