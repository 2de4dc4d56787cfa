"""``saga explore --virtual``: thousands of fault schedules a minute against the real saga code.

Schedule ``i`` of exploration seed ``S`` is drawn from seed ``S * 1_000_000 + i``
(:func:`schedule_seed`), so every schedule has a seed of its own that ``--replay SEED`` draws and
runs again, identically: the kernel (:mod:`chaos.explore.virtual.kernel`) has no thread, socket or
wall clock, so a run is a pure function of its schedule and the code under test.

Each schedule runs on a fresh ledger and is judged by the same pure checkers as a run on the
real stack. A violation is shrunk greedily (drop payments, reset schedule settings, reset each
payment's faults one by one, halve the outage, keeping each change that still fails one of the
checks the original failed) and written as ``<out>/virtual-<seed>.json`` (``--replay FILE``)
and, where every fault it keeps exists on the real stack, as ``<out>/virtual-<seed>.yaml``
(``saga scenario run FILE``).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
import signal
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from msgspec.structs import fields, replace

from chaos.explore.virtual.coverage import race_cells
from chaos.explore.virtual.handoff import scenario_of
from chaos.explore.virtual.schedule import PaymentPlan, Schedule, draw, encode
from chaos.explore.virtual.world import ScheduleResult, World
from chaos.mutants.sagas import MUTANTS
from chaos.verdicts.findings import Check
from orchestrator.api.request_log import RequestLog
from orchestrator.ledger import Ledger
from orchestrator.workflows.payment import PaymentWorkflow
from runtime.progress import Steps

STRIDE = 1_000_000
"""Schedules per exploration seed (schedule seeds of different exploration seeds never meet)."""
SHRINK_RUNS = 300
"""Most runs one shrink may take."""
DEFAULT_PLAN = PaymentPlan()


def schedule_seed(seed: int, index: int) -> int:
    """The seed of schedule ``index`` of exploration ``seed``."""
    return seed * STRIDE + index


class Runner:
    """Runs schedules against the saga (or one mutant), each on a fresh ledger file in
    memory-backed temp space (``/dev/shm`` where there is one)."""

    def __init__(self, mutant: str | None = None, within: Path | None = None) -> None:
        """``within``: make the temp space there (a worker process's, inside its parent's)."""
        self.mutant = mutant
        found = MUTANTS[mutant] if mutant else None
        self.workflow: type = found.workflow if found else PaymentWorkflow
        self.ledger: type[Ledger] = found.ledger if found else Ledger
        self.request_log: type[RequestLog] = found.request_log if found else RequestLog
        shm = Path("/dev/shm")
        self._dir = Path(
            tempfile.mkdtemp(prefix="saga-virtual-", dir=within or (shm if shm.is_dir() else None))
        )
        self.runs = 0
        self._pid = os.getpid()

    def run(self, schedule: Schedule) -> ScheduleResult:
        """Run one schedule to its end and judge it."""
        path = self._dir / f"{self.runs}.db"
        self.runs += 1
        # The workflows log their expected warnings (a reconciler notice that failed) as on a
        # real worker; over thousands of schedules that is noise, not news.
        workflow_log = logging.getLogger("temporalio.workflow")
        level = workflow_log.level
        workflow_log.setLevel(logging.ERROR)
        ledger = self.ledger(path, keep_open=True)
        # The API's request log, where a payment's request is retried (a file of its own).
        reused = any(p.deleted_then_retried for p in schedule.payments)
        requests = self.request_log(f"{path}.requests") if reused else None
        try:
            return World(schedule, ledger, self.workflow, requests=requests).run()
        finally:
            ledger.close()
            workflow_log.setLevel(level)
            for leftover in self._dir.glob(f"{path.name}*"):
                leftover.unlink()

    @property
    def directory(self) -> Path:
        """The temp space the ledgers are made in."""
        return self._dir

    def close(self) -> None:
        """Remove the temp space (only in the process that made it: a forked worker shares
        this object, not the directory's ownership)."""
        if os.getpid() == self._pid:
            shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


@dataclass
class Finding:
    """A violation: the schedule that showed it, shrunk, and the files written for it."""

    seed: int
    failed: list[Check]
    """The checks the shrunk schedule fails."""
    schedule: Schedule
    """The shrunk schedule."""
    original: Schedule
    shrink_runs: int
    files: list[Path] = field(default_factory=list)
    not_on_real_stack: list[str] = field(default_factory=list)
    """Why no scenario YAML was written (faults the real stack has no form for)."""


@dataclass
class Exploration:
    """What one exploration did."""

    seed: int
    mutant: str | None
    schedules: int = 0
    payments: int = 0
    elapsed_s: float = 0.0
    virtual_s: float = 0.0
    activations: int = 0
    violations: int = 0
    findings: list[Finding] = field(default_factory=list)
    cells: Counter[str] = field(default_factory=Counter)
    first_violation_s: float | None = None
    first_failed: list[str] = field(default_factory=list)
    """The checks the first violating schedule failed."""

    @property
    def rate_per_min(self) -> float:
        """Schedules run per minute of wall time."""
        return 60 * self.schedules / self.elapsed_s if self.elapsed_s else 0.0


#: Schedules between two progress lines (about 6 s at 5,000 schedules a minute).
PROGRESS_EVERY = 500
#: Schedules a worker process runs per hand-out (fewer round trips; results still in order).
CHUNK = 16


@dataclass(frozen=True)
class Outcome:
    """What the parent needs of one schedule run in a worker process (a violating schedule is
    run again in the parent, identically, to shrink it)."""

    index: int
    payments: int
    virtual_s: float
    activations: int
    cells: set[str]
    failed: list[str]


_WORKER_RUNNER: Runner | None = None


def _run_index(seed: int, index: int, runner: Runner) -> tuple[Outcome, ScheduleResult]:
    schedule = draw(schedule_seed(seed, index))
    result = runner.run(schedule)
    outcome = Outcome(
        index,
        len(schedule.payments),
        result.virtual_s,
        result.activations,
        race_cells(result),
        [c.name for c in result.failed],
    )
    return outcome, result


def _in_worker(job: tuple[int, int]) -> Outcome:
    assert _WORKER_RUNNER is not None
    return _run_index(job[0], job[1], _WORKER_RUNNER)[0]


def _start_worker(mutant: str | None, within: Path) -> None:
    global _WORKER_RUNNER
    # A fork inherits the parent's handlers: a CLI's SIGTERM handler (raise KeyboardInterrupt)
    # would turn the pool's terminate into a worker stuck in its exit, and the parent's join
    # with it. A worker dies on SIGTERM; Ctrl-C is the parent's to handle.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Nor may it log through a queue whose listener thread stayed behind in the parent (a
    # Litestar app built in the same process sets one up): plain stderr instead.
    logging.root.handlers = [logging.StreamHandler()]
    # Inside the parent's temp space, which the parent removes: workers are killed, not closed.
    _WORKER_RUNNER = Runner(mutant, within)


def default_jobs() -> int:
    """Worker processes by default: one per core this process may run on."""
    return max(1, len(os.sched_getaffinity(0)))


@contextmanager
def _outcomes(
    runner: Runner, schedules: int, seed: int, jobs: int
) -> Iterator[Iterator[tuple[Outcome, ScheduleResult | None]]]:
    """Each schedule's outcome in index order: from ``jobs`` forked worker processes, or from
    ``runner`` in this process when ``jobs`` is 1. Stopping early stops the workers."""
    if jobs <= 1 or schedules < 2 * CHUNK:
        yield (
            (outcome, result)
            for outcome, result in (_run_index(seed, index, runner) for index in range(schedules))
        )
        return
    # fork: the workers start with the saga and the kernel imported (a spawned interpreter
    # would import temporalio again, about 2 s each).
    with multiprocessing.get_context("fork").Pool(
        jobs, initializer=_start_worker, initargs=(runner.mutant, runner.directory)
    ) as pool:
        found = pool.imap(_in_worker, ((seed, i) for i in range(schedules)), chunksize=CHUNK)
        yield ((outcome, None) for outcome in found)
        pool.terminate()


def explore(
    schedules: int,
    seed: int,
    out: Path,
    *,
    mutant: str | None = None,
    stop_at_first: bool = False,
    max_findings: int = 3,
    jobs: int = 1,
    progress: Callable[[str], None] = lambda line: None,
) -> Exploration:
    """Run ``schedules`` schedules on ``jobs`` processes; shrink and write the first
    ``max_findings`` violations. The report is the same for any ``jobs``: each schedule is a
    pure function of its seed, and outcomes are taken in index order."""
    report = Exploration(seed, mutant)
    began = time.perf_counter()
    with Runner(mutant) as runner, _outcomes(runner, schedules, seed, jobs) as outcomes:
        steps = Steps("schedules", schedules, progress, every=PROGRESS_EVERY)
        with steps:
            for outcome, result in outcomes:
                steps.begin(f"{report.violations} violation(s)")
                steps.advance()
                report.schedules += 1
                report.payments += outcome.payments
                report.virtual_s += outcome.virtual_s
                report.activations += outcome.activations
                report.cells.update(outcome.cells)
                if not outcome.failed:
                    continue
                report.violations += 1
                if report.first_violation_s is None:
                    report.first_violation_s = time.perf_counter() - began
                    report.first_failed = outcome.failed
                seed_of = schedule_seed(seed, outcome.index)
                progress(f"schedule {seed_of}: {', '.join(outcome.failed)}")
                if len(report.findings) < max_findings:
                    if result is None:  # run in a worker: again here, to shrink it
                        result = runner.run(draw(seed_of))
                    report.findings.append(_finding(runner, result, out, progress))
                if stop_at_first:
                    break
    report.elapsed_s = time.perf_counter() - began
    return report


def replay(schedule: Schedule, mutant: str | None = None) -> ScheduleResult:
    """Run one schedule again (from ``draw(seed)`` or a file)."""
    with Runner(mutant) as runner:
        return runner.run(schedule)


def _finding(
    runner: Runner, result: ScheduleResult, out: Path, progress: Callable[[str], None]
) -> Finding:
    before = runner.runs
    shrunk, failed = shrink(runner, result)
    finding = Finding(result.schedule.seed, failed, shrunk, result.schedule, runner.runs - before)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"virtual-{shrunk.seed}.json"
    path.write_bytes(encode(shrunk))
    finding.files.append(path)
    scenario, missing = scenario_of(shrunk, f"virtual-{shrunk.seed}")
    finding.not_on_real_stack = missing
    if not missing:
        yaml_path = out / f"virtual-{shrunk.seed}.yaml"
        yaml_path.write_text(yaml.safe_dump(scenario, sort_keys=False))
        finding.files.append(yaml_path)
    progress(f"  shrunk in {finding.shrink_runs} runs to {len(shrunk.payments)} payment(s)")
    return finding


def shrink(
    runner: Runner, result: ScheduleResult, budget: int = SHRINK_RUNS
) -> tuple[Schedule, list[Check]]:
    """The smallest schedule found that still fails one of the checks ``result`` failed."""
    wanted = {c.name for c in result.failed}
    best, failed = result.schedule, result.failed
    runs = 0
    improved = True
    while improved and runs < budget:
        improved = False
        for candidate in _simpler(best):
            if runs >= budget:
                break
            runs += 1
            attempt = runner.run(candidate)
            kept = [c for c in attempt.failed if c.name in wanted]
            if kept:
                best, failed, improved = candidate, attempt.failed, True
                break
    return best, failed


def _simpler(schedule: Schedule) -> Iterator[Schedule]:
    """Schedules one step simpler than ``schedule``, the biggest steps first."""
    plans = schedule.payments
    for i in range(len(plans)):
        if len(plans) > 1:
            yield replace(schedule, payments=plans[:i] + plans[i + 1 :])
    defaults = Schedule(seed=schedule.seed, payments=[])
    for name in ("ledger_outage", "reconcile_at_s", "account_attempts", "charge_attempts"):
        if getattr(schedule, name) != getattr(defaults, name):
            yield replace(schedule, **{name: getattr(defaults, name)})
    for name in ("velocity_max_payments", "balance"):
        if getattr(schedule, name) != getattr(defaults, name):
            yield replace(schedule, **{name: getattr(defaults, name)})
    for i, plan in enumerate(plans):
        for f in fields(PaymentPlan):
            default = getattr(DEFAULT_PLAN, f.name)
            if f.name != "amount" and getattr(plan, f.name) != default:
                simpler = replace(plan, **{f.name: default})
                yield replace(schedule, payments=[*plans[:i], simpler, *plans[i + 1 :]])
    if schedule.ledger_outage is not None and schedule.ledger_outage[1] > 1:
        start, length = schedule.ledger_outage
        yield replace(schedule, ledger_outage=(start, round(length / 2, 3)))
