"""Scenario files (``scenarios/*.yaml``): the typed, strict format and its loader.

Loading is the first step of a run: ``load_scenario`` reads YAML, decodes it with msgspec
(unknown keys are errors) and runs the checks msgspec cannot express (toxic attributes, knob
changes); every error names the file and the YAML path, e.g.
``scenarios/x.yaml: faults[1].attributes.latency: expected >= 0``.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn

import msgspec
import yaml

from chaos.errors import ScenarioError
from chaos.nemesis.base import Driver
from chaos.nemesis.registry import Fault, nemesis_of
from chaos.scenario.errors import located
from chaos.scenario.types import (
    Build,
    CompensationKind,
    Method,
    NonNegative,
    Positive,
    Rate,
    State,
    Step,
    Strict,
)
from orchestrator.models import DEFAULT_ACCOUNT_RETRY, SagaOptions
from runtime.process_names import BACKENDS, Backend, backend_has
from simulators.fraud import FraudKnobs
from simulators.notifications import NotificationKnobs
from simulators.provider import ProviderKnobs

SCENARIOS_DIR = Path(__file__).resolve().parents[2] / "scenarios"
#: A calm run's callback and fraud timers are at least this long (seconds).
CALM_TIMERS_S = 5.0


# -- workload --------------------------------------------------------------------------------


class UserSpec(Strict, kw_only=True):
    """An account the scenario creates (named ``<scenario>.<name>`` in the ledger)."""

    name: Annotated[str, msgspec.Meta(pattern="^[a-z][a-z0-9_-]{0,30}$")]
    """The user id in API calls; the ledger account is ``<scenario>.<name>``."""
    balance: Annotated[int, msgspec.Meta(ge=0)] = 1_000_000
    """Opening balance, minor units."""
    active: bool = True
    """An inactive account fails validation (``account_inactive``)."""
    methods: list[Method] | None = None
    """Payment methods the account accepts; absent: all."""


class AmountRange(Strict, kw_only=True):
    """Amounts drawn uniformly from ``min`` to ``max`` (minor units)."""

    min: Annotated[int, msgspec.Meta(gt=0)]
    """Smallest amount."""
    max: Annotated[int, msgspec.Meta(gt=0)]
    """Largest amount (at least ``min``)."""


class CancelSpec(Strict, kw_only=True):
    """Cancel a share of the payments when they reach one of ``at_steps``, or after a delay."""

    share: Rate
    """Share of the payments cancelled through the API, chosen by the seed."""
    at_steps: list[Step] | None = None
    """Cancel when a poller (every 50 ms) first sees the payment at one of these steps or a later
    forward step (``validate`` exists only on payments started before the validated-debit
    patch, e.g. on build v1: current payments validate inside the debit)."""
    after_s: NonNegative | None = None
    """Or: cancel this long after the payment was created."""


class Workload(Strict, kw_only=True):
    """What the scenario sends."""

    payments: Annotated[int, msgspec.Meta(ge=0, le=10_000)] = 10
    """How many payments the workload sends."""
    rate_per_s: Positive | None = None
    """Payments per second; absent: all at once."""
    users: list[UserSpec] = msgspec.field(default_factory=lambda: [UserSpec(name="payer")])
    """Accounts created for the run; payments go round-robin over them."""
    amount: Annotated[int, msgspec.Meta(gt=0)] | AmountRange = 1_000
    """A fixed amount or a range, minor units."""
    methods: list[Method] = msgspec.field(default_factory=lambda: ["card"])
    """Methods used round-robin."""
    cancels: CancelSpec | None = None
    """Cancels sent through the API (``POST /payments/{id}/cancel``)."""
    invalid_requests: Annotated[int, msgspec.Meta(ge=0)] = 0
    """Malformed or unauthorised requests sent alongside; each must be refused."""
    forged_callbacks: Annotated[int, msgspec.Meta(ge=0)] = 0
    """Callbacks with bad signatures sent for payments in flight; each must be refused."""


class Simulators(Strict, kw_only=True):
    """Knobs of each simulator for the whole run (defaults for what is not set)."""

    provider: ProviderKnobs = msgspec.field(default_factory=ProviderKnobs)
    """The mock payment provider."""
    fraud: FraudKnobs = msgspec.field(default_factory=FraudKnobs)
    """The fraud scoring service."""
    notifications: NotificationKnobs = msgspec.field(default_factory=NotificationKnobs)
    """The email/SMS provider."""


class RetrySettings(Strict, kw_only=True):
    """A step's retry policy: exponential backoff, then the step gives up."""

    initial_interval_s: Positive = 1.0
    """Wait after the first failed attempt."""
    backoff_coefficient: Annotated[float, msgspec.Meta(ge=1.0)] = 2.0
    """Each wait is this times the previous one."""
    maximum_interval_s: Positive = 30.0
    """Longest wait."""
    maximum_attempts: Annotated[int, msgspec.Meta(ge=1)] = 6
    """Attempts in all, the first included."""


def _account_retry() -> RetrySettings:
    return msgspec.convert(msgspec.to_builtins(DEFAULT_ACCOUNT_RETRY), RetrySettings)


class Settings(Strict, kw_only=True):
    """Saga settings for this run; the production defaults stay in ``SagaOptions``."""

    callback_timeout_s: Positive = 300.0
    """The timer on the provider's confirmation; when it fires the payment fails
    ``callback_timeout``."""
    charge_retry: RetrySettings = msgspec.field(default_factory=RetrySettings)
    """Retry policy of the provider charge; when it runs out the payment fails
    ``provider_unavailable``."""
    max_amount: Annotated[int, msgspec.Meta(gt=0)] = 1_000_000
    """Largest amount the API and validation accept."""
    fraud_timeout_s: Positive = 60.0
    """How long the saga waits for the fraud verdict."""
    velocity_window_s: Positive = 60.0
    """The velocity limit's window."""
    velocity_max_payments: Annotated[int, msgspec.Meta(ge=1)] = 100
    """Debits per account allowed within the window."""
    account_retry: RetrySettings = msgspec.field(default_factory=_account_retry)
    """Retry policy of the debit (which validates) and, on older payments, of validate; when it
    runs out the payment fails with reason
    ``accounts_unavailable`` (compensations keep retrying without a limit)."""
    notice_give_up_s: Positive = 6 * 3600.0
    """How long a notice that failed its first three attempts keeps being retried (every 10 s
    at first, backing off to 10 min) before it is recorded ``failed:<id>``; meanwhile the
    payment is terminal, at step ``notify``, its notification ``retrying:<id>``."""

    def saga_options(self) -> SagaOptions:
        """The workflow-side form of these settings."""
        return msgspec.convert(msgspec.to_builtins(self), SagaOptions)


# -- expectations ----------------------------------------------------------------------------


class Count(Strict, kw_only=True):
    """Bounds on a count, as numbers and/or as a share of the scenario's payments."""

    min: Annotated[int, msgspec.Meta(ge=0)] | None = None
    """At least this many."""
    max: Annotated[int, msgspec.Meta(ge=0)] | None = None
    """At most this many."""
    min_share: Rate | None = None
    """At least this share of the scenario's payments."""
    max_share: Rate | None = None
    """At most this share of the scenario's payments."""


class Expect(Strict, kw_only=True):
    """What must hold at the end of the run."""

    states: dict[State, Count] = msgspec.field(default_factory=dict)
    """Bounds on the payments ending in each state."""
    reasons: dict[str, Count] = msgspec.field(default_factory=dict)
    """Bounds on the payments ending with each reason (``provider_declined``, ``callback_timeout``,
    ...)."""
    compensations: dict[CompensationKind, Count] = msgspec.field(default_factory=dict)
    """Bounds on the payments reporting each compensation."""
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
    account_workers: Count | None = None
    """Distinct account worker processes (``worker-accounts``, ``worker-accounts-2``) that ran
    the payments' account activities, read from the histories (the identity of each
    activity-started event). Shares are of the payments."""
    deadline_s: Positive = 60.0
    """Every payment must be terminal this long after it was created."""
    invariants: bool = True
    """Money conserved, no double debit, refunds exactly once (DESIGN.md)."""
    notifications: bool = True
    """Every terminal payment produced a notification attempt."""
    notices_sent: Count | None = None
    """Payments whose notice was delivered (``sent:<id>``; the consistency check finds that id
    in the notification service's outbox), not recorded ``failed:<id>``."""
    reconciled: Count | None = None
    """Repairs the reconciler made (the runner triggers it before collecting evidence)."""
    late_charges: Count | None = None
    """Payments whose charge the provider made after their saga gave up (late processing),
    found held by the reconciler, which voided it or refunded it at the provider. The runner
    reconciles once the sagas have closed long enough to be settled, and again once every
    late-processed charge has landed, as the every-minute schedule would."""
    upgrade_paths: bool = False
    """From histories: payments created before an upgrade took the old path, those created
    after it the new one, and no workflow task failed with non-determinism."""


class Scenario(Strict, kw_only=True):
    """One named chaos scenario."""

    name: Annotated[str, msgspec.Meta(pattern="^[a-z0-9][a-z0-9-]*$")]
    """Must match the file name."""
    description: str
    """What the scenario shows; its first sentence is the summary ``saga scenario list`` prints."""
    tags: list[str] = msgspec.field(default_factory=list)
    """Free-form labels."""
    seed: int = 1
    """Every random choice of the run follows it (``--seed`` overrides it)."""
    build: Build = "v2"
    """The worker build the scenario starts on (``orchestrator.workflows.builds``)."""
    workload: Workload = msgspec.field(default_factory=Workload)
    """What the scenario sends."""
    simulators: Simulators = msgspec.field(default_factory=Simulators)
    """Simulator knobs for the whole run."""
    settings: Settings = msgspec.field(default_factory=Settings)
    """Saga settings for the run."""
    faults: list[Fault] = msgspec.field(default_factory=list)
    """The fault timeline, selected by ``kind``."""
    expect: Expect = msgspec.field(default_factory=Expect)
    """What must hold at the end."""

    @property
    def needs_reconciler(self) -> bool:
        """Whether the runner runs a reconciliation pass before collecting evidence."""
        return (
            any(nemesis_of(f).needs_reconciler(f) for f in self.faults)
            or self.expect.reconciled is not None
            or self.expect.late_charges is not None
            or self.late_processing_s > 0
        )

    @property
    def calm(self) -> bool:
        """Nothing in the run goes wrong on purpose: no fault, no cancel, every simulator knob at
        its default (seeds aside), and timers of at least :data:`CALM_TIMERS_S` (a shorter one
        is a fault in itself). Every payment is then healthy: it must succeed unless the ledger
        or the fraud service refuses it (the reference model's "a healthy payment succeeds")."""
        if self.faults or self.workload.cancels:
            return False
        if min(self.settings.callback_timeout_s, self.settings.fraud_timeout_s) < CALM_TIMERS_S:
            return False
        defaults = Simulators()
        return all(
            _knobs(getattr(self.simulators, name)) == _knobs(getattr(defaults, name))
            for name in ("provider", "fraud", "notifications")
        )

    @property
    def late_processing_s(self) -> float:
        """How long after an unanswered attempt the provider makes its charge (0: it never
        processes late in this scenario)."""
        knobs = self.simulators.provider
        if knobs.late_first_attempts or knobs.late_processing_rate:
            return knobs.late_processing_ms / 1000
        return 0.0

    @property
    def backends(self) -> tuple[Backend, ...]:
        """The backends whose stacks run every process and link the faults name."""
        return tuple(b for b in BACKENDS if not self.missing_on(b))

    def missing_on(self, backend: Backend) -> list[str]:
        """What the faults name that a stack of ``backend`` lacks, as ``faults[i].field: name``."""
        return self.missing(
            lambda name: backend_has(backend, process=name),
            lambda name: backend_has(backend, link=name),
        )

    def missing(
        self, has_process: Callable[[str], bool], has_link: Callable[[str], bool]
    ) -> list[str]:
        """What the faults name that a stack (told by ``has_process``, ``has_link``) lacks, as
        ``faults[i].target: name`` or ``faults[i].link: name``."""
        found = []
        for i, fault in enumerate(self.faults):
            parts = nemesis_of(fault).parts(fault)
            found += [f"faults[{i}].target: {p}" for p in parts.processes if not has_process(p)]
            found += [f"faults[{i}].link: {k}" for k in parts.links if not has_link(k)]
        return found

    def refusals(self, driver: Driver) -> list[str]:
        """What the faults ask that ``driver`` cannot do, as ``faults[i]: why``."""
        found = [(i, nemesis_of(f).refusal(f, driver)) for i, f in enumerate(self.faults)]
        return [f"faults[{i}]: {why}" for i, why in found if why]

    @property
    def lands_by_s(self) -> float:
        """When, after the workload started, everything the faults delayed has landed (0: no
        fault delays work past its window)."""
        return max(
            (t for f in self.faults if (t := nemesis_of(f).lands_by_s(f)) is not None),
            default=0.0,
        )

    @property
    def needs_toxiproxy(self) -> bool:
        """Whether any fault acts on a link."""
        return any(nemesis_of(f).parts(f).links for f in self.faults)


def _knobs(knobs: msgspec.Struct) -> dict[str, Any]:
    """A simulator's knobs without its seed (which changes no behaviour of its own)."""
    found: dict[str, Any] = msgspec.to_builtins(knobs)
    found.pop("seed", None)
    return found


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
        nemesis_of(fault).check(fault, scenario, source, where)
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
        "late_charges",
        "notices_sent",
    ):
        count = getattr(expect, name)
        if count is not None:
            counts.append((f"expect.{name}", count))
    return counts


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a mapping that repeats a key (plain YAML keeps the last one,
    so ``faults`` written twice silently loses the first)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key {key!r} (first on line {seen[key] + 1})",
                    key_node.start_mark,
                )
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


def parse_scenario(text: str, source: str) -> Scenario:
    """Decode and check scenario YAML; ``source`` names it in errors."""
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)
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
        names = [p.stem for p in scenario_files(directory)]
        close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
        hint = f"did you mean {' or '.join(close)}?" if close else "`saga scenario list` names them"
        raise ScenarioError(f"no scenario named {name!r}: {hint}")
    return path
