"""Generative fault exploration: random schedules on the real stack, shrunk when one breaks.

``saga explore --runs N --seed S [--mutant NAME]``: run ``i`` draws its scenario from
``Random(f"{S}:{i}")`` (same seed and version, same schedules): a workload (payments, rate,
amounts, cancels at random steps), simulator knobs (declines, errors, missing, duplicate and
foreign callbacks, foreign ones saying succeeded, charges the provider makes after its client
gave up, latency, slow, failing and timed-out fraud, a notice channel refused), a velocity
limit in reach one run in three, and 0 to 3
faults, each drawn by its kind's nemesis (``chaos.nemesis``: toxics, link downs, process kills
and pauses, worker crashes at a step, Temporal cancels, terminations at every step and deletes
with the key retried, ledger outages and slowness, knob changes; with ``--backend cluster``,
kinds only the cluster runs too, each from a stream of its own: an account worker's clock
off). Each runs on the real stack and is judged by the invariants and the reference model only
(:data:`INVARIANTS`: the checkers, the outcome rules, every payment terminal and notified, the
steady state after rollback, the reconciler's honesty), not by fault-effect verdicts: a random
fault may legitimately touch nothing.

On a violation the explorer shrinks the scenario greedily, keeping each simplification that
still violates: drop faults one by one, drop the cancels, reset simulator knobs one by one,
halve the payments, halve fault windows; at most ``shrink_runs`` runs. The minimal scenario is
written as ``<out>/explore-<seed>-<run>.yaml``, a scenario file like any other
(``saga scenario run FILE [--mutant NAME]``).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from chaos.mutants.worker import entry
from chaos.nemesis.base import Nemesis
from chaos.nemesis.registry import KINDS
from chaos.nemesis.workflow import EXPLORED_STEPS
from chaos.run.runner import ScenarioResult, ScenarioRunner
from chaos.scenario.format import Scenario, parse_scenario
from chaos.verdicts.oracle import OUTCOMES
from runtime.embedded import EmbeddedStack, StackOptions
from runtime.process_names import Backend
from runtime.progress import Steps
from runtime.scratch import ScratchDir, scratch_state_dir

#: The verdicts a saga must never fail, whatever the faults; what exploration judges by.
INVARIANTS = frozenset(
    {
        "money conserved",
        "accounts recompute from the journal",
        "no ledger entries outside the payments",
        "payments consistent (ledger, charge, notification)",
        "executions closed, search attribute final",
        "callbacks (duplicates, late, foreign)",
        "cancels acknowledged",
        "velocity limit held",
        "terminal within deadline",
        "notification attempted",
        "steady state after rollback",
        "reconciler repaired only what no saga could",
        OUTCOMES,
        "keys retried after delete",
    }
)
#: The kinds the explorer draws on either backend (each kind's nemesis draws its own fields).
DRAWN = tuple(k for k in KINDS if k.explored and not k.cluster_only)
#: The kinds it draws on the cluster backend alone, each from a stream of its own.
CLUSTER_DRAWN = tuple(k for k in KINDS if k.explored and k.cluster_only)
#: The share of cluster runs that draw each cluster-only kind.
CLUSTER_SHARE = 0.3


def generate(seed: int, run: int, backend: Backend = "dev") -> dict[str, Any]:
    """Scenario ``run`` of exploration ``seed`` on ``backend``, as the YAML's data."""
    rng = random.Random(f"{seed}:{run}")
    payments = rng.randint(3, 10)
    rate = rng.choice([2, 3, 5])
    span = (payments - 1) / rate
    workload: dict[str, Any] = {
        "payments": payments,
        "rate_per_s": rate,
        "amount": {"min": 100, "max": 5000},
        "methods": ["card", "wallet"],
    }
    if rng.random() < 0.3:
        steps = rng.sample(EXPLORED_STEPS[1:], rng.randint(1, 3))  # charge and after
        workload["cancels"] = {"share": rng.choice([0.2, 0.5]), "at_steps": steps}
    provider = _some(
        rng,
        {
            "decline_rate": rng.choice([0.2, 0.5]),
            "error_rate": rng.choice([0.2, 0.4]),
            "missing_callback_rate": rng.choice([0.3, 0.6]),
            "duplicate_callback_rate": 0.5,
            "foreign_callback_rate": 0.5,
            "callback_delay_ms": rng.choice([500, 1500]),
            "latency_ms": rng.choice([300, 1000]),
        },
    )
    provider["seed"] = seed * 1000 + run
    simulators = {
        "provider": provider,
        "fraud": {"delay_ms": rng.choice([50, 1000, 2500]), "seed": seed * 1000 + run}
        | _some(rng, {"fail_rate": 0.3, "amount_threshold": 4000}),
        "notifications": _some(rng, {"failure_rate": 0.3}),
    }
    faults = [_fault(rng, span) for _ in range(rng.choice([0, 1, 1, 2, 2, 3]))]
    # Vocabulary added later, from a stream of its own: a foreign callback saying succeeded, a
    # charge the provider makes after its client gave up, fraud errors and timeouts.
    wider = random.Random(f"{seed}:{run}:wider")
    provider |= _some(wider, {"foreign_callback_status": "succeeded", "late_first_attempts": 1})
    if "late_first_attempts" in provider:
        provider["late_processing_ms"] = wider.choice([3000, 8000])
    simulators["fraud"] |= _some(wider, {"error_rate": 0.3})
    # A channel the notification service refuses for good, from a stream of its own.
    channels = random.Random(f"{seed}:{run}:channels")
    if channels.random() < 0.2:
        simulators["notifications"]["refused_channels"] = [channels.choice(["email", "sms"])]
    # A velocity limit the run's payments can reach, one run in three, from a stream of its own
    # (the limit's both sides are judged; a clock skew between account workers needs one).
    limits = random.Random(f"{seed}:{run}:velocity")
    velocity = (
        {"velocity_max_payments": limits.choice([1, 2, 3])} if limits.random() < 1 / 3 else {}
    )
    for nemesis in CLUSTER_DRAWN if backend == "cluster" else ():
        apart = random.Random(f"{seed}:{run}:{nemesis.kind()}")
        if apart.random() < CLUSTER_SHARE:
            faults.append(_fault(apart, span, nemesis))
    return {
        "name": f"explore-{seed}-{run}",
        "description": f"Drawn by `saga explore --seed {seed}`, run {run}.",
        "tags": ["explore"],
        "seed": seed * 1000 + run,
        "workload": workload,
        "simulators": simulators,
        "faults": faults,
        "settings": velocity
        | {
            "callback_timeout_s": rng.choice([3, 8]),
            "fraud_timeout_s": wider.choice([2, 60, 60]),
            "charge_retry": {
                "initial_interval_s": 0.2,
                "maximum_interval_s": 1,
                "maximum_attempts": rng.choice([2, 4]),
            },
        },
        "expect": {"deadline_s": 90},
    }


def _some(rng: random.Random, options: dict[str, Any]) -> dict[str, Any]:
    """Each option kept with probability 0.3."""
    return {k: v for k, v in options.items() if rng.random() < 0.3}


def _fault(
    rng: random.Random, span: float, nemesis: type[Nemesis[Any]] | None = None
) -> dict[str, Any]:
    at = round(rng.uniform(0, span + 1), 1)
    window = {"at_s": at, "duration_s": rng.choice([1, 2, 4]), "expect_effect": False}
    nemesis = nemesis or rng.choice(DRAWN)
    return window | {"kind": nemesis.kind()} | nemesis.generate(rng, span)


def to_scenario(data: dict[str, Any]) -> Scenario:
    """Validate drawn data as a scenario file would be."""
    return parse_scenario(yaml.safe_dump(data, sort_keys=False), f"{data['name']}.yaml")


def violations(result: ScenarioResult) -> list[str]:
    """The invariants a run broke (a run error counts as one)."""
    broken = [v.name for v in result.verdicts if not v.passed and v.name in INVARIANTS]
    return broken + ([f"run error: {result.error}"] if result.error else [])


def simpler(data: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Candidate simplifications of a scenario, simplest-first within each kind."""
    for i in range(len(data["faults"])):
        yield {**data, "faults": data["faults"][:i] + data["faults"][i + 1 :]}
    if "cancels" in data["workload"]:
        yield {**data, "workload": {k: v for k, v in data["workload"].items() if k != "cancels"}}
    for sim, knobs in data["simulators"].items():
        for knob in knobs:
            if knob != "seed":
                reduced = {k: v for k, v in knobs.items() if k != knob}
                yield {**data, "simulators": {**data["simulators"], sim: reduced}}
    if data["workload"]["payments"] > 1:
        fewer = max(1, data["workload"]["payments"] // 2)
        yield {**data, "workload": {**data["workload"], "payments": fewer}}
    for i, fault in enumerate(data["faults"]):
        if fault["duration_s"] > 0.5:
            shorter = {**fault, "duration_s": fault["duration_s"] / 2}
            yield {**data, "faults": [*data["faults"][:i], shorter, *data["faults"][i + 1 :]]}


@dataclass
class Finding:
    """A violation, and the minimal scenario that still shows it."""

    run: int
    broken: list[str]
    original: dict[str, Any]
    minimal: dict[str, Any]
    minimal_broken: list[str]
    shrink_runs: int
    path: Path | None = None


@dataclass
class Exploration:
    """What ``saga explore`` did."""

    seed: int
    mutant: str | None
    runs: list[tuple[int, str, list[str]]] = field(default_factory=list)
    """(run, one-line summary, broken invariants) per run."""
    findings: list[Finding] = field(default_factory=list)
    results: list[ScenarioResult] = field(default_factory=list)
    """Each drawn run's full result (shrinking runs aside), for the journal and the report."""


class Explorer:
    """Runs drawn scenarios on a stack; a fresh stack after any run that broke something (a
    broken saga leaves the ledger unbalanced, which every later run would inherit)."""

    def __init__(
        self,
        mutant: str | None = None,
        progress: Callable[[str], None] = lambda line: None,
        backend: Backend = "dev",
    ) -> None:
        self.mutant = mutant
        self.progress = progress
        self.backend = backend
        self._stack: EmbeddedStack | None = None
        self._scratch = ExitStack()
        self._scratch_dir: ScratchDir | None = None
        self.last: ScenarioResult | None = None
        """The result of the latest run."""

    def __enter__(self) -> Explorer:
        return self

    def __exit__(self, kind: type[BaseException] | None, *exc: object) -> None:
        self._drop_stack(keep_state=kind is not None)

    def _drop_stack(self, keep_state: bool = False) -> None:
        """Stop the stack; its scratch state goes with it unless the run went wrong (the
        findings are scenario files, so a stack that broke an invariant leaves nothing needed)."""
        if self._stack is not None:
            self._stack.stop()
            self._stack = None
        if self._scratch_dir is not None:
            self._scratch_dir.keep = keep_state
            self._scratch_dir = None
            self._scratch.close()

    def run(self, data: dict[str, Any]) -> list[str]:
        """Run one scenario; the invariants it broke."""
        if self._stack is None:
            scratch = self._scratch.enter_context(scratch_state_dir("saga-explore-"))
            self._scratch_dir = scratch
            options = StackOptions(
                state_dir=scratch.path,
                ui=False,
                toxiproxy="on",
                prometheus="off",
                worker_entry=entry(self.mutant),
                backend=self.backend,
            )
            self._stack = EmbeddedStack(options)
            self._stack.start()
        result = ScenarioRunner(self._stack).run(to_scenario(data))
        self.last = result
        broken = violations(result)
        if broken:
            self._drop_stack()
        return broken

    def shrink(self, data: dict[str, Any], broken: list[str], budget: int) -> Finding:
        """Greedy shrinking: keep any simplification that still breaks an invariant."""
        finding = Finding(0, broken, data, data, broken, 0)
        improved = True
        while improved and finding.shrink_runs < budget:
            improved = False
            for candidate in simpler(finding.minimal):
                if finding.shrink_runs >= budget:
                    break
                finding.shrink_runs += 1
                still = self.run(candidate)
                verdict = "still broken" if still else "holds"
                self.progress(f"  shrink {finding.shrink_runs}: {describe(candidate)} -> {verdict}")
                if still:
                    finding.minimal, finding.minimal_broken = candidate, still
                    improved = True
                    break
        return finding


def describe(data: dict[str, Any]) -> str:
    """One line: payments, knobs and faults of a drawn scenario."""
    knobs = [
        f"{sim}.{k}={v}"
        for sim, values in data["simulators"].items()
        for k, v in values.items()
        if k != "seed"
    ]
    faults = [
        f"{f['kind']}:{f.get('link') or f.get('target') or f.get('action', '')}@{f['at_s']:g}s"
        for f in data["faults"]
    ]
    cancels = " cancels" if "cancels" in data["workload"] else ""
    return (
        f"{data['workload']['payments']} payments{cancels}; knobs {', '.join(knobs) or 'none'};"
        f" faults {', '.join(faults) or 'none'}"
    )


def explore(
    runs: int,
    seed: int,
    mutant: str | None = None,
    out: Path = Path("explore"),
    shrink_runs: int = 20,
    progress: Callable[[str], None] = lambda line: None,
    backend: Backend = "dev",
) -> Exploration:
    """Draw and run ``runs`` scenarios on a stack of ``backend``; shrink and write the first
    violation found."""
    exploration = Exploration(seed, mutant)
    explorer = Explorer(mutant, progress, backend)
    with explorer, Steps("runs", runs, progress) as steps:
        for run in range(runs):
            data = generate(seed, run, backend)
            steps.begin(f"run {run}")
            broken = explorer.run(data)
            steps.advance()
            exploration.runs.append((run, describe(data), broken))
            if explorer.last is not None:
                exploration.results.append(explorer.last)
            verdict = ", ".join(broken) or "holds"
            progress(f"run {run}: {describe(data)} -> {verdict}")
            if broken:
                finding = explorer.shrink(data, broken, shrink_runs)
                finding.run = run
                finding.path = write_finding(finding, seed, mutant, out)
                exploration.findings.append(finding)
                break  # one minimal counterexample is the deliverable; fix it, then explore on
    return exploration


def write_finding(finding: Finding, seed: int, mutant: str | None, out: Path) -> Path:
    """The minimal scenario as a file that ``saga scenario run`` takes."""
    out.mkdir(parents=True, exist_ok=True)
    data = dict(finding.minimal)
    against = f" against mutant {mutant}" if mutant else ""
    data["description"] = (
        f"Found by `saga explore --seed {seed}`{against} (run {finding.run}), shrunk in"
        f" {finding.shrink_runs} runs. It broke: {', '.join(finding.minimal_broken)}."
    )
    to_scenario(data)  # still a valid scenario
    path = out / f"{data['name']}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path
