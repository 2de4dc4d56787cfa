"""``saga explore --virtual`` and ``saga mutants run --virtual``: the virtual explorer's output."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from chaos.errors import ScenarioError
from chaos.explore.virtual.coverage import TABLE
from chaos.explore.virtual.explore import (
    Exploration,
    default_jobs,
    explore,
    replay,
    schedule_seed,
)
from chaos.explore.virtual.schedule import Schedule, decode, draw, encode
from chaos.explore.virtual.world import ScheduleResult
from chaos.mutants.sagas import MUTANTS
from chaos.mutants.score import MutantResult, MutationReport, render
from runtime.tables import render_table

DEFAULT_SCHEDULES = 1000
#: Schedules ``saga mutants run --virtual`` tries per mutant before calling it a survivor.
MUTANT_SCHEDULES = 2000


def cmd_explore_virtual(args: argparse.Namespace) -> int:
    """Explore (or replay one schedule); exit 1 on a violation."""
    if args.replay is not None:
        return _replay(args.replay, args.mutant)
    if args.schedules is None:
        args.schedules = DEFAULT_SCHEDULES
    if args.schedules < 1:
        raise ScenarioError(f"--schedules: expected at least 1, got {args.schedules}")
    jobs = jobs_of(args)
    against = f" against mutant {args.mutant}" if args.mutant else ""
    print(f"virtual exploration: seed {args.seed}, {args.schedules} schedules{against}", flush=True)
    report = explore(
        args.schedules,
        args.seed,
        Path(args.out),
        mutant=args.mutant,
        stop_at_first=args.mutant is not None,
        jobs=jobs,
        progress=lambda line: print(line, flush=True),
    )
    print(summary(report))
    return 1 if report.violations else 0


def jobs_of(args: argparse.Namespace) -> int:
    """``--jobs``, checked; one per core when not given."""
    jobs: int | None = getattr(args, "jobs", None)
    if jobs is None:
        return default_jobs()
    if jobs < 1:
        raise ScenarioError(f"--jobs: expected at least 1, got {jobs}")
    return jobs


def summary(report: Exploration) -> str:
    """Schedules, rate, violations, the race table's coverage and the files written."""
    lines = [
        f"schedules run: {report.schedules} ({report.payments} payments) in "
        f"{report.elapsed_s:.1f} s: {report.rate_per_min:,.0f} schedules/min",
        f"virtual time: {report.virtual_s / 86400:,.1f} days; workflow activations: "
        f"{report.activations:,}",
        f"violations: {report.violations}",
    ]
    reached = [cell for cell in TABLE if report.cells[cell]]
    missing = len(TABLE) - len(reached)
    lines.append(
        f"race table: {len(reached)}/{len(TABLE)} cells reached"
        + (
            f" ({missing} at 0: run more schedules, or a path is no longer reached)"
            if missing
            else ""
        )
    )
    rows = [["cell", "schedules"]] + [[cell, str(report.cells[cell])] for cell in TABLE]
    lines.append(render_table(rows))
    for finding in report.findings:
        lines.append(
            f"violation in schedule {finding.seed}: {', '.join(c.name for c in finding.failed)}"
        )
        for check in finding.failed:
            lines += [f"  {line}" for line in str(check).splitlines()[:4]]
        lines.append(
            f"  shrunk in {finding.shrink_runs} runs to {len(finding.schedule.payments)} payment(s)"
        )
        lines += [f"  wrote {path}" for path in finding.files]
        if finding.not_on_real_stack:
            lines.append(f"  no scenario file: {'; '.join(finding.not_on_real_stack)}")
        mutant = f" --mutant {report.mutant}" if report.mutant else ""
        lines.append(f"  reproduce: saga explore --virtual --replay {finding.seed}{mutant}")
        lines.append(f"  shrunk:    saga explore --virtual --replay {finding.files[0]}{mutant}")
    if report.first_violation_s is not None:
        lines.append(f"first violation after {report.first_violation_s:.2f} s")
    return "\n".join(lines)


def _load(spec: str) -> Schedule:
    if spec.isdigit():
        return draw(int(spec))
    path = Path(spec)
    if not path.is_file():
        raise ScenarioError(f"--replay: {spec!r} is neither a schedule seed nor a file")
    try:
        return decode(path.read_bytes(), str(path))
    except ValueError as err:
        raise ScenarioError(f"--replay: {err}") from None


def _replay(spec: str, mutant: str | None) -> int:
    schedule = _load(spec)
    print(encode(schedule).decode(), end="")
    result = replay(schedule, mutant)
    print(describe(result))
    return 0 if result.ok else 1


def describe(result: ScheduleResult) -> str:
    """Every payment's outcome and timeline, then the checks that failed."""
    lines = []
    for payment in result.bundle.payments:
        api = payment.api
        execution = payment.execution.status if payment.execution else "none"
        lines.append(
            f"{payment.payment_id}: {api.get('state', '?')} {api.get('reason') or ''} "
            f"(execution {execution}, compensations {api.get('compensations', [])})"
        )
        for entry in api.get("timeline", []):
            lines.append(f"  {entry['at'][11:23]} {entry['event']} {entry['detail']}".rstrip())
    lines.append(f"virtual time {result.virtual_s:,.1f} s, {result.activations} activations")
    if result.ok:
        lines.append("every check holds")
    for check in result.failed:
        lines.append(str(check))
    return "\n".join(lines)


def run_virtual_mutants(
    names: list[str], schedules: int, seed: int, jobs: int = 1
) -> MutationReport:
    """Each mutant against up to ``schedules`` virtual schedules; killed at the first violation."""
    results = []
    for name in names:
        mutant = MUTANTS[name]
        if mutant.equivalent:
            results.append(MutantResult(name, mutant.bug, "equivalent", detail=mutant.equivalent))
            continue
        began = time.perf_counter()
        try:
            report = explore(
                schedules,
                seed,
                Path("explore"),
                mutant=name,
                stop_at_first=True,
                max_findings=0,
                jobs=jobs,
            )
        except Exception as err:  # the mutant cannot even run: not a kill
            detail = f"could not run: {type(err).__name__}: {err}"
            results.append(MutantResult(name, mutant.bug, "invalid", detail=detail))
            continue
        result = MutantResult(name, mutant.bug, "killed" if report.violations else "survived")
        result.scenarios_run = report.schedules
        if report.violations:
            killer = schedule_seed(seed, report.schedules - 1)
            result.scenario = f"schedule {killer}"
            result.failed = report.first_failed
            # Honest: a kill counts only if the real saga holds on that same schedule.
            real = replay(draw(killer))
            if not real.ok:
                result.outcome = "invalid"
                result.detail = f"the real saga fails schedule {killer} too: " + ", ".join(
                    c.name for c in real.failed
                )
        result.duration_s = round(time.perf_counter() - began, 2)
        print(f"mutant {name}: {result.outcome} after {report.schedules} schedule(s)", flush=True)
        results.append(result)
    return MutationReport(results)


def cmd_mutants_virtual(args: argparse.Namespace) -> int:
    """``saga mutants run --virtual``: the table and the score; exit 1 below 100%."""
    names = args.names or sorted(MUTANTS)
    report = run_virtual_mutants(names, args.schedules, args.seed, jobs_of(args))
    print(render(report, time_format="{:.2f}s"))
    return 0 if report.score == 1.0 else 1
