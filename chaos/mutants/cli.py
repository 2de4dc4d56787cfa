"""``saga mutants list | run``: the saga mutants and the suite's mutation score."""

from __future__ import annotations

import argparse
from typing import Any

from chaos.explore.virtual.cli import MUTANT_SCHEDULES, cmd_mutants_virtual
from chaos.mutants.sagas import MUTANTS
from chaos.mutants.score import KILLERS, QUICK, render, require_mutants, run_mutants
from runtime.tables import render_table


def cmd_list(args: argparse.Namespace) -> int:
    """One line per mutant: its bug, the scenarios expected to kill it, quick or equivalent."""
    rows = [["mutant", "bug", "killed by", "notes"]]
    for name, mutant in sorted(MUTANTS.items()):
        notes = "equivalent" if mutant.equivalent else "quick" if name in QUICK else ""
        rows.append([name, mutant.bug, ", ".join(KILLERS.get(name, ())), notes])
    print(render_table(rows))
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """Run mutants, print the table and the score; exit 1 below 100%."""
    require_mutants(args.names, "saga mutants run")
    if args.virtual:
        return cmd_mutants_virtual(args)
    names = args.names or (list(QUICK) if args.quick else sorted(MUTANTS))
    report = run_mutants(names, quick=args.quick, progress=print if args.verbose else _quiet)
    print(render(report))
    return 0 if report.score == 1.0 else 1


def _quiet(line: str) -> None:
    """Only the mutants' own lines: where the run is, and each mutant's outcome."""
    if line.startswith(("mutant ", "[")):
        print(line, flush=True)


def add_mutants_commands(sub: Any) -> None:
    """Register ``saga mutants`` on the ``saga`` parser."""
    mutants = sub.add_parser("mutants", help="deliberately broken sagas and the mutation score")
    commands = mutants.add_subparsers(dest="mutants_command", required=True)
    commands.add_parser("list", help="list the mutants").set_defaults(func=cmd_list)
    run = commands.add_parser("run", help="run the suite against mutants; print the score")
    run.add_argument("names", nargs="*", help="default: every mutant (--quick: the CI subset)")
    run.add_argument(
        "--quick",
        action="store_true",
        help="the CI subset, each mutant against its first expected killer only",
    )
    run.add_argument("--verbose", action="store_true", help="print every scenario's progress")
    run.add_argument(
        "--virtual",
        action="store_true",
        help="against virtual schedules (saga explore --virtual) instead of the scenarios",
    )
    run.add_argument(
        "--schedules",
        type=int,
        default=MUTANT_SCHEDULES,
        help=f"--virtual: schedules per mutant (default {MUTANT_SCHEDULES})",
    )
    run.add_argument("--seed", type=int, default=1, help="--virtual: exploration seed")
    run.add_argument(
        "--jobs", type=int, default=None, help="--virtual: worker processes (default: one per core)"
    )
    run.set_defaults(func=cmd_run)
