"""The discrete-event model: one SimPy process per payment, resources for every capacity.

What a payment does mirrors ``PaymentWorkflow``: the API starts it; workflow tasks on the
payments worker; one validated debit (with the velocity limit) on the accounts worker; the fraud
child (its own workflow tasks and the scoring activity on the fraud worker) in parallel with the
charge at the provider (latency, errors, retries with the scenario's exponential backoff,
declines), the provider's callback (delay, missing, duplicate) against the callback timer; then
compensations in reverse (void, fraud child cancelled, refund) or success; then the notification.

Every trip through Temporal costs server CPU per history event and a hop of latency; every
workflow task and activity costs CPU on a worker process (one core each: the GIL), the API and
the simulators cost CPU per request. On one machine (``shared_cores``) all of that competes for
the same cores, as it does on the real 2-core stack; at scale, the server has ``server_cores``
(capped by history shards) and each worker process its own core.
"""

from __future__ import annotations

import math
import random
from collections import Counter, defaultdict
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

import msgspec
import simpy

from chaos.nemesis.registry import conditions
from chaos.perf.percentiles import percentile
from chaos.perf.simulation.calibration import Calibration
from chaos.scenario.format import AmountRange, Scenario
from orchestrator.models import backoff_s, policy_backoff_s
from orchestrator.roles import ROLES
from orchestrator.workers import HTTP_TIMEOUT
from orchestrator.workflows.payment import ACCOUNT_CALL, NOTIFY_RETRY, PROVIDER_CALL

Process = Generator[simpy.Event, Any, Any]

# The saga's own settings, so the model cannot drift from the code it models.
PROVIDER_CALL_TIMEOUT_S = PROVIDER_CALL.total_seconds()
#: The SDK's default workflow task timeout: a task lost with its worker is retried after it.
WORKFLOW_TASK_TIMEOUT_S = 10.0
ACCOUNT_CALL_TIMEOUT_S = ACCOUNT_CALL.total_seconds()
HTTP_TIMEOUT_S = float(HTTP_TIMEOUT.read or 0.0)
NOTIFY_ATTEMPTS = NOTIFY_RETRY.maximum_attempts


@dataclass(frozen=True)
class Topology:
    """How much of everything there is."""

    workers: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ROLES, 1))
    """Worker processes per role (one core each)."""
    server_cores: int = 2
    history_shards: int = 4
    """The server works on at most this many workflows' events at once."""
    api_instances: int = 1
    shared_cores: int | None = 2
    """One machine: every CPU cost competes for these cores (None: each part has its own)."""
    workflow_slots: int = 100
    activity_slots: int = 100
    slowdown: dict[str, float] = field(default_factory=dict)
    """Per pool: how much longer each operation takes, so that a pool rounded to a whole
    number of units keeps the exact capacity of the pool it stands for."""

    @classmethod
    def machine(cls, cores: int = 2) -> Topology:
        """This machine: one process per role on ``cores`` shared cores."""
        return cls(shared_cores=cores, server_cores=cores)

    @classmethod
    def scaled(cls, workers: int, server_cores: int, shards: int = 4096) -> Topology:
        """A cluster: ``workers`` processes per role, API instances alike, dedicated cores."""
        return cls(
            workers=dict.fromkeys(ROLES, workers),
            server_cores=server_cores,
            history_shards=shards,
            api_instances=workers,
            shared_cores=None,
        )

    def scale_down(self, factor: int) -> Topology:
        """The same system ``factor`` times smaller (see :func:`simulate`)."""
        if factor == 1:
            return self
        exact = {
            "server": min(self.server_cores, self.history_shards) / factor,
            "api": self.api_instances / factor,
            **{f"worker-{r}": n / factor for r, n in self.workers.items()},
        }
        units = {pool: max(1, round(size)) for pool, size in exact.items()}
        return Topology(
            workers={r: units[f"worker-{r}"] for r in self.workers},
            server_cores=units["server"],
            history_shards=units["server"],
            api_instances=units["api"],
            shared_cores=None if self.shared_cores is None else max(1, self.shared_cores // factor),
            workflow_slots=self.workflow_slots,
            activity_slots=self.activity_slots,
            slowdown={pool: units[pool] / size for pool, size in exact.items()},
        )


@dataclass
class Knobs:
    """Simulator knobs at one moment (the scenario's, with any knobs fault applied)."""

    provider: dict[str, Any]
    fraud: dict[str, Any]
    notifications: dict[str, Any]


@dataclass
class Tally:
    """What the run produced."""

    latencies: list[float] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    compensations: Counter[str] = field(default_factory=Counter)
    provider_attempts: int = 0
    events: int = 0
    finished: int = 0
    started: int = 0
    last_finish_s: float = 0.0
    first_start_s: float | None = None

    @property
    def window_s(self) -> float:
        """From the first payment's start to the last one's finish (as measured on the stack)."""
        return self.last_finish_s - (self.first_start_s or 0.0)


class Resources:
    """Every capacity, and how busy each was."""

    def __init__(
        self, env: simpy.Environment, topology: Topology, rng: random.Random | None = None
    ) -> None:
        self.env = env
        self.topology = topology
        self.rng = rng or random.Random(0)
        shared = topology.shared_cores
        self.cpu = simpy.Resource(env, shared) if shared else None
        server = min(topology.server_cores, topology.history_shards)
        self.pools: dict[str, simpy.Resource] = {
            "server": simpy.Resource(env, server),
            "api": simpy.Resource(env, topology.api_instances),
            **{f"worker-{r}": simpy.Resource(env, n) for r, n in topology.workers.items()},
        }
        self.slots = {
            f"slots-{r}": simpy.Resource(env, n * topology.activity_slots)
            for r, n in topology.workers.items()
        }
        self.busy: defaultdict[str, float] = defaultdict(float)
        self.queue_samples: dict[str, list[int]] = {name: [] for name in self.pools}
        self.down: dict[str, list[tuple[float, float]]] = {}

    def capacity(self, name: str) -> int:
        """How many can work at once."""
        if name == "cpu":
            return int(self.cpu.capacity) if self.cpu else 0
        return int(self.pools[name].capacity)

    def work(self, pool: str, seconds: float) -> Process:
        """Hold one unit of ``pool`` (and a shared core, on one machine) for ``seconds`` of CPU."""
        if seconds <= 0:
            return
        # CPU work varies (caches, GC, I/O waits inside a task): exponential around the mean.
        seconds = self.rng.expovariate(1 / seconds) * self.topology.slowdown.get(pool, 1.0)
        yield from self.wait_up(pool)
        with self.pools[pool].request() as unit:
            yield unit
            if self.cpu is not None:
                with self.cpu.request() as core:
                    yield core
                    yield self.env.timeout(seconds)
                self.busy["cpu"] += seconds
            else:
                yield self.env.timeout(seconds)
        self.busy[pool] += seconds

    def background(self, seconds: float) -> Process:
        """CPU that is no one's in particular (k6, Prometheus) on the shared cores."""
        if self.cpu is None or seconds <= 0:
            return
        with self.cpu.request() as core:
            yield core
            yield self.env.timeout(seconds)
        self.busy["cpu"] += seconds

    def wait_up(self, pool: str) -> Process:
        """Block while a pool's processes are killed or paused."""
        for start, end in self.down.get(pool, ()):
            if start <= self.env.now < end:
                yield self.env.timeout(end - self.env.now)

    def killed_during(self, pool: str, start: float, end: float) -> bool:
        """Whether a process fault hit the pool while a task was running on it."""
        return any(start < s < end for s, _ in self.down.get(pool, ()))

    def sample(self, every_s: float = 1.0) -> Process:
        """Record queue lengths (for the depth report)."""
        while True:
            for name, pool in self.pools.items():
                self.queue_samples[name].append(len(pool.queue))
            yield self.env.timeout(every_s)


class Saga:
    """The model of one stack running one scenario's workload."""

    def __init__(
        self,
        scenario: Scenario,
        calibration: Calibration,
        topology: Topology,
        seed: int | None = None,
        expected_payments: float | None = None,
    ) -> None:
        self.scenario = scenario
        self.cal = calibration
        self.env = simpy.Environment()
        self.rng = random.Random(scenario.seed if seed is None else seed)
        self.res = Resources(self.env, topology, self.rng)
        self.tally = Tally()
        self.settings = scenario.settings
        self.base = Knobs(
            msgspec.to_builtins(scenario.simulators.provider),
            msgspec.to_builtins(scenario.simulators.fraud),
            msgspec.to_builtins(scenario.simulators.notifications),
        )
        # A scenario's users are sized for its own payment count; a longer or faster run keeps
        # the same spend-to-balance ratio (each user stands for proportionally more accounts).
        stretch = max(1.0, (expected_payments or 0) / max(1, scenario.workload.payments))
        self.balances = {u.name: u.balance * stretch for u in scenario.workload.users}
        self.attempts_by_key: Counter[int] = Counter()
        self.conditions = conditions(scenario.faults)
        for pool, windows in self.conditions.down.items():
            self.res.down.setdefault(pool, []).extend(windows)

    # -- time-varying conditions ------------------------------------------------------------

    def knobs(self) -> Knobs:
        """Knobs now: the scenario's, overridden by any knobs fault in its window."""
        now = self.env.now
        knobs = Knobs(
            dict(self.base.provider), dict(self.base.fraud), dict(self.base.notifications)
        )
        for start, end, simulator, changed in self.conditions.knobs:
            if start <= now < end:
                getattr(knobs, simulator).update(changed)
        return knobs

    def link_delay(self, link: str) -> float:
        """Added latency on a link now (a latency toxic), in seconds."""
        now, extra = self.env.now, 0.0
        for start, end, on, attributes, toxicity in self.conditions.delays:
            if on == link and start <= now < end and self.rng.random() < toxicity:
                jitter = attributes.get("jitter", 0)
                extra += max(0.0, attributes.get("latency", 0) + self.rng.uniform(-jitter, jitter))
        return extra / 1000

    def link_down_until(self, link: str) -> float | None:
        """When a downed link comes back, if it is down now."""
        now = self.env.now
        for start, end, down in self.conditions.links_down:
            if down == link and start <= now < end:
                return end
        return None

    def jittered(self, base_ms: float, jitter_ms: float) -> float:
        """Milliseconds with uniform jitter, as seconds."""
        return (
            max(0.0, base_ms + (self.rng.uniform(-jitter_ms, jitter_ms) if jitter_ms else 0)) / 1000
        )

    # -- Temporal operations ----------------------------------------------------------------

    def server(self, events: int) -> Process:
        """A trip through the server that writes ``events`` history events."""
        self.tally.events += events
        until = self.link_down_until("temporal")
        if until is not None:  # workers cannot reach the server: the task waits
            yield self.env.timeout(until - self.env.now)
        yield self.env.timeout(self.cal.hop_s + self.link_delay("temporal"))
        yield from self.res.work("server", events * self.cal.server_event_s)

    def workflow_task(self, role: str = "payments") -> Process:
        """One workflow task: scheduled, started, completed (3 events), run on a worker."""
        yield from self.server(3)
        cost = self.cal.payments_task_s if role == "payments" else self.cal.fraud_task_s
        yield from self.res.work(f"worker-{role}", cost)

    def activity(
        self, role: str, cpu_s: float, io_s: float = 0.0, timeout_s: float = ACCOUNT_CALL_TIMEOUT_S
    ) -> Process:
        """One activity attempt on ``role``'s worker (3 events); False if a kill lost it (the
        server notices at the start-to-close timeout)."""
        yield from self.server(3)
        return (yield from self._attempt(role, cpu_s, io_s, timeout_s))

    def local_activity(self, role: str, cpu_s: float, io_s: float = 0.0) -> Process:
        """One local activity attempt, run by ``role``'s worker inside its workflow task; False
        if a kill lost it (the task is retried at its timeout)."""
        return (yield from self._attempt(role, cpu_s, io_s, WORKFLOW_TASK_TIMEOUT_S))

    def _attempt(self, role: str, cpu_s: float, io_s: float, lost_after_s: float) -> Process:
        started = self.env.now
        with self.res.slots[f"slots-{role}"].request() as slot:
            yield slot
            yield from self.res.work(f"worker-{role}", cpu_s)
            if io_s:
                yield self.env.timeout(io_s)
        if self.res.killed_during(f"worker-{role}", started, self.env.now):
            yield self.env.timeout(max(0.0, started + lost_after_s - self.env.now))
            return False
        return True

    # -- the payment ------------------------------------------------------------------------

    def arrivals(self, rate: float, duration_s: float) -> Process:
        """Arrivals at a constant rate (as k6's and the scenario runner's), the scenario's mix."""
        workload = self.scenario.workload
        users = [u.name for u in workload.users]
        while self.env.now < duration_s:
            yield self.env.timeout(1 / rate)
            if self.env.now > duration_s:
                break
            amount = workload.amount
            value = (
                self.rng.randint(amount.min, amount.max)
                if isinstance(amount, AmountRange)
                else amount
            )
            cancel_at = None
            cancels = workload.cancels
            if cancels is not None and self.rng.random() < cancels.share:
                cancel_at = self.rng.choice(cancels.at_steps) if cancels.at_steps else "after"
            self.env.process(self.payment(self.rng.choice(users), value, cancel_at))
            yield from self.res.background(self.cal.background_per_payment_s)

    def payment(self, user: str, amount: int, cancel_at: str | None) -> Process:
        """One saga, start to notification."""
        began = self.env.now
        self.tally.started += 1
        if self.tally.first_start_s is None:
            self.tally.first_start_s = began
        done = self.env.event()
        self.env.process(self._client_polls(done))
        yield from self.res.work("api", self.cal.api_request_s)
        yield from self.server(1)  # WorkflowExecutionStarted
        yield from self.workflow_task()
        outcome, reason, compensations = yield from self._forward(user, amount, cancel_at)
        for kind in compensations:
            self.tally.compensations[kind] += 1
        yield from self.server(1)  # upsert the final PaymentStatus
        yield from self._notify()
        yield from self.server(1)  # WorkflowExecutionCompleted
        done.succeed()
        self.tally.finished += 1
        self.tally.outcomes[outcome] += 1
        if reason:
            self.tally.reasons[reason] += 1
        self.tally.latencies.append(self.env.now - began)
        self.tally.last_finish_s = self.env.now

    def _client_polls(self, done: simpy.Event) -> Process:
        """The client as k6 polls: the state (a server read) after 1 s, then twice as long each
        time up to 4 s, until the saga ended; then one full read (a query: a payments task)."""
        wait = 1.0
        while True:
            yield self.env.timeout(wait) | done
            if done.processed:
                # k6 notices at its next poll; the reads cost the same either way.
                break
            wait = min(wait * 2, 4.0)
            yield from self.res.work("api", self.cal.api_request_s)
            yield from self.res.work("server", self.cal.server_event_s)
        yield from self.res.work("api", 2 * self.cal.api_request_s)
        yield from self.res.work("server", 2 * self.cal.server_event_s)
        yield from self.res.work("worker-payments", self.cal.payments_task_s)

    def _account(self) -> Process:
        ok = yield from self.activity("accounts", self.cal.accounts_activity_s)
        while not ok:
            yield self.env.timeout(1.0)
            ok = yield from self.activity("accounts", self.cal.accounts_activity_s)
        yield from self.workflow_task()

    def _forward(
        self, user: str, amount: int, cancel_at: str | None
    ) -> Generator[simpy.Event, Any, tuple[str, str | None, list[str]]]:
        spec = next(u for u in self.scenario.workload.users if u.name == user)
        # The validated-debit patch marker, its TemporalChangeVersion upsert, upsert processing.
        yield from self.server(3)
        # One account call: validation, then the debit with the velocity limit, in one
        # transaction. (A cancel aimed at `validate` never fires: no poller sees that step on
        # the current build.)
        yield from self._account()
        if not spec.active:
            return "failed", "account_inactive", []
        if amount > self.settings.max_amount:
            return "failed", "amount_over_limit", []
        if self.balances[user] < amount:
            return "failed", "insufficient_funds", []
        self.balances[user] -= amount
        if cancel_at == "debit":
            yield from self._account()  # refund
            self.balances[user] += amount
            return "cancelled", "cancel_requested", ["refund"]

        # The parallel phase: the fraud child and the charge, decided as facts arrive.
        yield from self.server(2)  # child initiated, started
        accepted = self.env.event()
        fraud = self.env.process(self._fraud(user, amount))
        charge = self.env.process(self._charge(accepted))
        facts: dict[str, Any] = {}
        cancel = self._cancel_trigger(cancel_at, accepted, began_s=self.env.now)
        while (decision := self._decide(facts)) is None:
            pending = [e for e in (fraud, charge, cancel) if e is not None and not e.processed]
            yield simpy.AnyOf(self.env, pending)
            if cancel is not None and cancel.processed and "cancel" not in facts:
                yield from self._cancel_signal()
                facts["cancel"] = True
            if charge.processed:
                facts["charge"] = charge.value
            if fraud.processed:
                facts["fraud"] = fraud.value
        state, reason = decision
        compensations: list[str] = []
        if state != "succeeded":
            charged = facts.get("charge", ("running", 0))[0]
            if charged != "declined":  # declined outright: nothing was authorized, no void
                yield from self._void()
                if charged in ("accepted", "timeout"):
                    compensations.append("void")
            if not fraud.processed:
                yield from self.server(2)  # cancel requested, child cancelled
                compensations.append("fraud_check_cancelled")
            yield from self._account()  # refund
            compensations.append("refund")
            self.balances[user] += amount
        yield from self.workflow_task()
        return state, reason, compensations

    def _cancel_trigger(
        self, cancel_at: str | None, accepted: simpy.Event, began_s: float
    ) -> simpy.Event | None:
        """When the workload's cancel reaches a payment in the parallel phase."""
        poll_s = 0.25  # the workload sees the step by polling, then sends the cancel
        if cancel_at == "charge":
            return self.env.timeout(poll_s / 2)
        if cancel_at in ("await_confirmation", "await_fraud"):
            trigger = self.env.event()

            def after_accept(_: simpy.Event) -> None:
                self.env.process(self._fire_after(trigger, poll_s))

            accepted.callbacks.append(after_accept)
            return trigger
        if cancel_at == "after":
            after = self.scenario.workload.cancels
            delay = (after.after_s or 0.0) if after else 0.0
            return self.env.timeout(max(0.0, delay - (self.env.now - began_s)))
        return None

    def _fire_after(self, event: simpy.Event, delay: float) -> Process:
        yield self.env.timeout(delay)
        if not event.triggered:
            event.succeed()

    def _decide(self, facts: dict[str, Any]) -> tuple[str, str | None] | None:
        if facts.get("cancel"):
            return "cancelled", "cancel_requested"
        charge = facts.get("charge")
        fraud = facts.get("fraud")
        if charge is not None and charge[0] != "accepted":
            return "failed", {
                "declined": "provider_declined",
                "declined_callback": "provider_declined",
                "unavailable": "provider_unavailable",
                "timeout": "callback_timeout",
            }[charge[0]]
        if fraud is not None and fraud != "pass":
            return "failed", "fraud_rejected" if fraud == "fail" else "fraud_check_failed"
        if charge is not None and fraud is not None:
            return "succeeded", None
        return None

    def _cancel_signal(self) -> Process:
        yield from self.res.work("api", self.cal.api_request_s)
        yield from self.server(1)
        yield from self.workflow_task()

    def _void(self) -> Process:
        """The void compensation at the provider (retried without limit, like the saga)."""
        ok = yield from self.activity("payments", self.cal.simulator_request_s)
        while not ok:
            yield self.env.timeout(1.0)
            ok = yield from self.activity("payments", self.cal.simulator_request_s)
        yield from self.workflow_task()

    def _charge(self, accepted: simpy.Event) -> Generator[simpy.Event, Any, tuple[str, Any]]:
        """The charge with retries, then the callback against the timer."""
        retry = self.settings.charge_retry
        attempt = 0
        while True:
            attempt += 1
            self.tally.provider_attempts += 1
            knobs = self.knobs().provider
            until = self.link_down_until("provider")
            io = self.jittered(knobs["latency_ms"], knobs["latency_jitter_ms"]) + self.link_delay(
                "provider"
            )
            failed = None
            if until is not None:
                failed = "connection"
            elif attempt <= knobs["fail_first_attempts"] or self.rng.random() < knobs["error_rate"]:
                failed = knobs["error_kind"]
            if failed in ("timeout",):
                io += min(knobs["hang_ms"] / 1000, HTTP_TIMEOUT_S)
            yield from self.activity(
                "payments",
                self.cal.simulator_request_s,
                io_s=io,
                timeout_s=PROVIDER_CALL_TIMEOUT_S,
            )
            if failed is None:
                break
            if attempt >= retry.maximum_attempts:
                yield from self.workflow_task()
                return "unavailable", attempt
            backoff = backoff_s(
                attempt,
                retry.initial_interval_s,
                retry.backoff_coefficient,
                retry.maximum_interval_s,
            )
            yield self.env.timeout(max(backoff + self.cal.retry_overhead_s, self.cal.retry_floor_s))
        knobs = self.knobs().provider
        declined = self.rng.random() < knobs["decline_rate"]
        yield from self.workflow_task()
        if declined and not knobs["decline_via_callback"]:
            return "declined", attempt
        # Accepted: wait for the callback or the timer (the timer: 2 events).
        accepted.succeed()
        yield from self.server(1)
        timeout = self.settings.callback_timeout_s
        if self.rng.random() < knobs["missing_callback_rate"]:
            yield self.env.timeout(timeout)
            yield from self.server(1)
            yield from self.workflow_task()
            return "timeout", attempt
        delay = self.jittered(knobs["callback_delay_ms"], knobs["callback_delay_jitter_ms"])
        delay += self.link_delay("callbacks")
        down = self.link_down_until("callbacks")
        if down is not None and down - self.env.now > delay:
            delay = down - self.env.now + 0.5
        if delay >= timeout:
            yield self.env.timeout(timeout)
            yield from self.server(1)
            yield from self.workflow_task()
            return "timeout", attempt
        yield self.env.timeout(delay)
        yield from self.res.work("api", self.cal.api_request_s + self.cal.simulator_request_s)
        yield from self.server(2)  # signaled, timer cancelled
        if self.rng.random() < knobs["duplicate_callback_rate"]:
            yield from self.res.work("api", self.cal.api_request_s)
            yield from self.server(1)
        yield from self.workflow_task()
        return ("declined_callback" if declined else "accepted"), attempt

    def _fraud(self, user: str, amount: int) -> Generator[simpy.Event, Any, str]:
        """The child workflow (LocalFraudCheckWorkflow): one task on the fraud worker, the
        scoring inside it as a local activity (retried there on errors, no server trip)."""
        yield from self.workflow_task("fraud")
        for _ in range(5):
            knobs = self.knobs().fraud
            io = self.jittered(knobs["delay_ms"], knobs["delay_jitter_ms"]) + self.link_delay(
                "fraud"
            )
            yield from self.local_activity(
                "fraud", self.cal.fraud_task_s + self.cal.simulator_request_s, io
            )
            if self.link_down_until("fraud") is None and self.rng.random() >= knobs["error_rate"]:
                break
            yield self.env.timeout(1.0)
        else:
            return "error"
        verdict = "pass"
        threshold = knobs.get("amount_threshold")
        blocked = user in knobs["blocked_users"]
        too_large = threshold is not None and amount >= threshold
        if blocked or too_large or self.rng.random() < knobs["fail_rate"]:
            verdict = "fail"
        # The local activity's marker and the child's completion, and its record in the parent.
        yield from self.server(3)
        yield from self.workflow_task()
        return verdict

    def _notify(self) -> Process:
        for attempt in range(NOTIFY_ATTEMPTS):
            knobs = self.knobs().notifications
            io = knobs["latency_ms"] / 1000 + self.link_delay("notify")
            yield from self.activity(
                "notifications", self.cal.notify_activity_s + self.cal.simulator_request_s, io
            )
            if (
                self.link_down_until("notify") is None
                and self.rng.random() >= knobs["failure_rate"]
            ):
                break
            yield self.env.timeout(policy_backoff_s(NOTIFY_RETRY, attempt + 1))
        yield from self.workflow_task()


@dataclass
class SimResult:
    """What ``saga simulate run`` reports."""

    scenario: str
    rate: float
    duration_s: float
    scale: int
    topology: Topology
    tally: Tally
    utilization: dict[str, float]
    queue_p99: dict[str, float]
    wall_s: float = 0.0

    windows_s: float = 0.0
    """Sum of the runs' windows (first arrival to last finish) when runs were merged."""
    runs: list[list[float]] = field(default_factory=list)
    """Each merged run's latencies: percentiles are the mean of the runs' percentiles."""

    @property
    def throughput(self) -> float:
        """Payments finished per second from the first arrival to the last finish (scaled up)."""
        window = self.windows_s or self.tally.window_s or self.duration_s
        return self.tally.finished * self.scale / window

    def latency(self, p: float) -> float:
        """Saga latency percentile in seconds (merged: the mean of the runs' percentiles)."""
        if self.runs:
            return sum(percentile(run, p) for run in self.runs) / len(self.runs)
        return percentile(self.tally.latencies, p)

    def shares(self) -> dict[str, float]:
        """Outcome shares."""
        total = sum(self.tally.outcomes.values()) or 1
        return {k: v / total for k, v in sorted(self.tally.outcomes.items())}

    @property
    def events_per_payment(self) -> float:
        """History events per started payment in the model."""
        return self.tally.events / max(1, self.tally.started)


def merge(results: list[SimResult]) -> SimResult:
    """Several seeds of one configuration as one result: pooled outcomes, averaged percentiles.

    A real 30-second run has 60 to 180 payments, so its p99 is its largest or second largest
    latency. Each seed produces the same statistic over the same number of payments; their mean
    is what a real run should show on average, where one run of the model is as noisy as one
    real run.
    """
    first = results[0]
    tally = Tally()
    for result in results:
        tally.latencies += result.tally.latencies
        tally.outcomes += result.tally.outcomes
        tally.reasons += result.tally.reasons
        tally.compensations += result.tally.compensations
        tally.provider_attempts += result.tally.provider_attempts
        tally.events += result.tally.events
        tally.finished += result.tally.finished
        tally.started += result.tally.started
    return SimResult(
        first.scenario,
        first.rate,
        first.duration_s,
        first.scale,
        first.topology,
        tally,
        {
            k: sum(r.utilization.get(k, 0) for r in results) / len(results)
            for k in first.utilization
        },
        {k: max(r.queue_p99.get(k, 0) for r in results) for k in first.queue_p99},
        wall_s=sum(r.wall_s for r in results),
        windows_s=sum(r.tally.window_s or r.duration_s for r in results),
        runs=[r.tally.latencies for r in results],
    )


def simulate(
    scenario: Scenario,
    calibration: Calibration,
    topology: Topology,
    rate: float,
    duration_s: float,
    *,
    seed: int | None = None,
    max_entity_rate: float = 60.0,
    drain_s: float | None = None,
) -> SimResult:
    """Run the model: arrivals at a constant ``rate`` for ``duration_s``, then let work finish.

    Above ``max_entity_rate`` the system is scaled down by an integer factor (rate, workers,
    server cores and shards divided alike) so that one hour at 10,000/s stays a few minutes
    of wall time; throughput and queue depths are scaled back up, latencies are not.
    """
    import time

    began = time.perf_counter()
    factor = max(1, math.ceil(rate / max_entity_rate))
    small = topology.scale_down(factor)
    saga = Saga(scenario, calibration, small, seed, expected_payments=rate / factor * duration_s)
    saga.env.process(saga.arrivals(rate / factor, duration_s))
    saga.env.process(saga.res.sample())
    horizon = duration_s + (
        drain_s if drain_s is not None else scenario.settings.callback_timeout_s + 60.0
    )
    saga.env.run(until=horizon)
    busy_window = max(duration_s, saga.tally.last_finish_s)
    utilization = {
        name: min(1.0, saga.res.busy[name] / (busy_window * saga.res.capacity(name)))
        for name in [*saga.res.pools, *(["cpu"] if saga.res.cpu else [])]
        if saga.res.capacity(name)
    }
    queue_p99 = {
        name: percentile([float(q) for q in samples], 99) * factor
        for name, samples in saga.res.queue_samples.items()
    }
    return SimResult(
        scenario.name,
        rate,
        duration_s,
        factor,
        topology,
        saga.tally,
        utilization,
        queue_p99,
        wall_s=time.perf_counter() - began,
    )
