"""The mutation score: how many deliberately broken sagas the scenario suite catches.

Each mutant (``chaos.mutants.sagas``) runs on a fresh embedded stack of its own (a
broken saga leaves the ledger unbalanced, on purpose). Its scenarios run one after another:
first those expected to kill it (``KILLERS``), then, unless ``quick``, every other scenario of
``scenarios/``, until one fails a verdict. A mutant is *killed* by the first scenario with a
failed verdict, *survives* if every scenario passes, and is not run if it is marked
equivalent (no test can tell it from the saga, for the reason given). The score is killed /
(mutants - equivalent). A kill counts only if the real saga passes the same scenario in the
same run (:func:`confirm_kills`; in CI, ``tests/scenarios/test_scenarios.py`` runs every
scenario on the real saga in the same run); a mutant that cannot run, or whose killer fails
the real saga too, is ``invalid``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from chaos.errors import ScenarioError
from chaos.mutants.sagas import MUTANTS
from chaos.mutants.worker import entry
from chaos.run.runner import ScenarioRunner
from chaos.scenario.format import Scenario, find_scenario, load_scenario, scenario_files
from runtime.embedded import EmbeddedStack, StackOptions
from runtime.process_names import BACKENDS, Backend
from runtime.progress import Steps
from runtime.scratch import scratch_state_dir
from runtime.tables import render_table

#: Mutant -> the scenarios expected to kill it, most direct first.
KILLERS: dict[str, tuple[str, ...]] = {
    "drop-refund": ("provider-decline", "missing-callback"),
    "drop-void": ("missing-callback",),
    "refund-twice": ("provider-decline",),
    "void-wrong-charge": ("missing-callback",),
    "compensate-wrong-order": ("strict-provider",),
    "void-rejection-forgotten": ("strict-provider",),
    "skip-notification": ("happy-path",),
    "ignore-cancel-at-charge": ("cancel-mid-flight",),
    # Both break the path of payments started before validated-debit (a cancel at validate).
    "cancel-escapes": ("temporal-cancel-v1",),
    "cancel-read-as-error": ("temporal-cancel-v1",),
    "errors-escape": ("ledger-outage",),
    "debit-twice": ("happy-path",),
    "wrong-amount": ("happy-path",),
    "velocity-outside-debit": ("velocity-burst",),
    "try-cancel-debit": ("temporal-cancel",),
    "no-refund-tombstone": ("late-debit",),
    "drop-refund-on-refusal": ("refused-debit-retry",),
    "retry-decline": ("provider-decline",),
    "no-callback-timer": ("missing-callback",),
    "no-dedup": ("duplicate-callbacks",),
    "accept-foreign-callback": ("foreign-callbacks",),
    "ignore-fraud-rejection": ("fraud-reject",),
    "fraud-fail-open": ("fraud-outage",),
    "accept-foreign-success": ("foreign-success-callbacks",),
    "slow-callback-timer": ("missing-callback",),
    "timeout-read-as-cancel": ("missing-callback",),
    "notice-wrong-channel": ("happy-path",),
    "drop-delayed-notice": ("notification-outage",),
    "no-channel-fallback": ("notify-channel-refused",),
    "velocity-off-by-one": ("velocity-burst",),
    # Cluster only (two account workers on one PostgreSQL ledger): its stack is a cluster.
    "worker-clock": ("clock-skew-account-workers",),
    "refuse-wallets": ("happy-path",),
    # No scenario holds an outage past a compensation round (about 6 min): saga mutants run
    # --virtual kills it (a 400 s outage); on the real stack it survives the suite.
    "abandon-compensation": (),
    # The real stack's API takes no mutant (the mutants replace the workers' code): saga mutants
    # run --virtual kills it; on the real stack key-reuse-after-delete proves the real log.
    "forget-started-requests": (),
}

#: The subset CI runs (``--quick``): one mutant per kind of check, each against its first killer.
QUICK = (
    "drop-refund",
    "compensate-wrong-order",
    "skip-notification",
    "cancel-escapes",
    "errors-escape",
    "debit-twice",
    "velocity-outside-debit",
    "no-dedup",
    "accept-foreign-callback",
    # Killed only by the reference model: consistent money, wrong outcome.
    "fraud-fail-open",
    "notice-wrong-channel",
)

#: ``invalid``: the mutant could not run (it failed at import or start), or what "killed" it
#: fails the real saga too; neither counts as a kill.
Outcome = Literal["killed", "survived", "equivalent", "error", "invalid"]


@dataclass
class MutantResult:
    """What the suite did to one mutant."""

    name: str
    bug: str
    outcome: Outcome
    scenario: str | None = None
    """The scenario that killed it (or that errored)."""
    failed: list[str] = field(default_factory=list)
    """The verdicts that failed in that scenario."""
    scenarios_run: int = 0
    duration_s: float = 0.0
    detail: str | None = None
    """The error, or the reason a mutant is equivalent."""


@dataclass
class MutationReport:
    """Every mutant's result and the score."""

    results: list[MutantResult]

    @property
    def counted(self) -> list[MutantResult]:
        """The mutants the score counts (equivalent ones are not)."""
        return [r for r in self.results if r.outcome != "equivalent"]

    @property
    def killed(self) -> int:
        """How many were killed."""
        return sum(r.outcome == "killed" for r in self.results)

    @property
    def score(self) -> float:
        """Killed / counted (1.0 when nothing was counted)."""
        return self.killed / len(self.counted) if self.counted else 1.0


def require_mutants(names: list[str], flag: str = "--mutant") -> None:
    """:class:`ScenarioError` naming the unknown mutants and the known ones."""
    unknown = [n for n in names if n not in MUTANTS]
    if unknown:
        raise ScenarioError(
            f"{flag}: unknown mutant(s) {', '.join(map(repr, unknown))}"
            f" (expected one of: {', '.join(sorted(MUTANTS))})"
        )


def home_backend(scenario: str) -> Backend:
    """The backend a scenario is run on to judge it: the dev server, unless it breaks what only
    the cluster runs (a skew between two account workers)."""
    return load_scenario(find_scenario(scenario)).backends[0]


def backend_of(name: str) -> Backend:
    """The backend a mutant's stack runs: its first killer's (the dev server without one)."""
    killers = KILLERS.get(name, ())
    return home_backend(killers[0]) if killers else "dev"


def scenario_order(name: str, quick: bool) -> list[Scenario]:
    """The scenarios to try on a mutant: its killers first, then (not quick) all the others,
    each that its backend (:func:`backend_of`) runs."""
    backend = backend_of(name)
    killers = [load_scenario(find_scenario(s)) for s in KILLERS.get(name, ())]
    if quick:
        return killers[:1]
    known = {s.name for s in killers}
    rest = [load_scenario(p) for p in scenario_files()]
    candidates = killers + [s for s in rest if s.name not in known]
    return [s for s in candidates if backend in s.backends]


def run_mutant(
    name: str, quick: bool = False, progress: Callable[[str], None] = lambda line: None
) -> MutantResult:
    """Run one mutant against the suite on a stack of its own."""
    mutant = MUTANTS[name]
    if mutant.equivalent:
        return MutantResult(name, mutant.bug, "equivalent", detail=mutant.equivalent)
    began = time.monotonic()
    result = MutantResult(name, mutant.bug, "survived")
    with scratch_state_dir(f"saga-mutant-{name}-") as scratch:
        # Worker versioning as `saga scenario run` has it: a killer may start on a build (v1).
        options = StackOptions(
            state_dir=scratch.path,
            ui=False,
            prometheus="off",
            worker_entry=entry(name),
            worker_versioning=True,
            backend=backend_of(name),
        )
        with EmbeddedStack(options) as stack:
            runner = ScenarioRunner(stack, progress)
            for scenario in scenario_order(name, quick):
                progress(f"mutant {name}: scenario {scenario.name}")
                run = runner.run(scenario)
                result.scenarios_run += 1
                if run.error is not None:
                    result.outcome, result.scenario = "error", scenario.name
                    result.detail = run.error
                    break
                if not run.passed:
                    result.outcome, result.scenario = "killed", scenario.name
                    result.failed = [v.name for v in run.verdicts if not v.passed]
                    break
        scratch.keep = result.outcome == "error"
    result.duration_s = round(time.monotonic() - began, 1)
    return result


def run_mutants(
    names: list[str], quick: bool = False, progress: Callable[[str], None] = lambda line: None
) -> MutationReport:
    """Run each named mutant; see :func:`run_mutant`."""
    results = []
    with Steps("mutants", len(names), progress) as steps:
        for name in names:
            steps.begin(f"mutant {name}")
            result = run_mutant(name, quick, progress)
            steps.advance()
            progress(f"mutant {name}: {result.outcome} {result.scenario or ''}".rstrip())
            results.append(result)
    confirm_kills(results, progress)
    return MutationReport(results)


def confirm_kills(
    results: list[MutantResult], progress: Callable[[str], None] = lambda line: None
) -> None:
    """A kill counts only if the real saga passes the killing scenario in the same run: each
    killer runs once more on a stack of the real saga, and the kills of one it fails turn
    ``invalid`` (what failed was the scenario or the system, not the mutant)."""
    killers = sorted({r.scenario for r in results if r.outcome == "killed" and r.scenario})
    if not killers:
        return
    failing: dict[str, list[str]] = {}
    homes = {name: home_backend(name) for name in killers}
    for backend in BACKENDS:
        mine = [n for n in killers if homes[n] == backend]
        if mine:
            failing |= _failing_on_the_real_saga(mine, backend, progress)
    for r in results:
        if r.outcome == "killed" and r.scenario in failing:
            r.outcome = "invalid"
            r.detail = f"the real saga fails {r.scenario} too: {', '.join(failing[r.scenario])}"


def _failing_on_the_real_saga(
    names: list[str], backend: Backend, progress: Callable[[str], None]
) -> dict[str, list[str]]:
    """The scenarios of ``names`` the real saga fails on a stack of ``backend``, with what
    failed."""
    failing: dict[str, list[str]] = {}
    with scratch_state_dir("saga-mutant-reference-") as scratch:
        options = StackOptions(
            state_dir=scratch.path,
            ui=False,
            prometheus="off",
            worker_versioning=True,
            backend=backend,
        )
        with EmbeddedStack(options) as stack:
            runner = ScenarioRunner(stack, progress)
            for name in names:
                progress(f"the real saga: scenario {name}")
                run = runner.run(load_scenario(find_scenario(name)))
                if not run.passed:
                    failing[name] = [v.name for v in run.verdicts if not v.passed] or [
                        str(run.error)
                    ]
        scratch.keep = bool(failing)
    return failing


def render(report: MutationReport, time_format: str = "{:.0f}s") -> str:
    """The table and the score, for people."""
    rows = [["mutant", "result", "killed by", "failed checks", "runs", "time"]]
    for r in report.results:
        shown = ", ".join(r.failed[:2]) + (f" (+{len(r.failed) - 2})" if len(r.failed) > 2 else "")
        if r.outcome in ("error", "equivalent", "invalid"):
            shown = (r.detail or "")[:70]
        rows.append(
            [
                r.name,
                r.outcome.upper() if r.outcome in ("survived", "error", "invalid") else r.outcome,
                r.scenario or "-",
                shown or "-",
                str(r.scenarios_run),
                time_format.format(r.duration_s),
            ]
        )
    equivalent = len(report.results) - len(report.counted)
    score = f"mutation score: {report.killed}/{len(report.counted)} killed ({report.score:.0%})" + (
        f"; {equivalent} equivalent, not counted" if equivalent else ""
    )
    return render_table(rows) + "\n" + score
