"""``saga explore``: random fault schedules on the real stack, a minimal scenario per violation."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from chaos.errors import ScenarioError
from chaos.explore.real import explore
from chaos.explore.virtual.cli import cmd_explore_virtual
from chaos.mutants.score import require_mutants
from chaos.verdicts.html import write_html_from
from chaos.verdicts.journal import write_journal
from chaos.verdicts.run_metadata import now, run_metadata
from runtime.process_names import BACKENDS
from runtime.tables import render_table


def cmd_explore(args: argparse.Namespace) -> int:
    """Explore; print each run and the minimal scenario of a violation; exit 1 on one."""
    if args.mutant is not None:
        require_mutants([args.mutant])
    if args.virtual and args.report:
        raise ScenarioError(
            "--report is for real-stack runs; the virtual explorer writes its schedules to --out"
        )
    if args.virtual:
        return cmd_explore_virtual(args)
    if args.replay is not None or args.schedules is not None:
        raise ScenarioError("--replay and --schedules go with --virtual")
    if args.virtual and args.backend != "dev":
        raise ScenarioError("--backend is for real-stack runs (the virtual world has no backend)")
    if args.runs < 1:
        raise ScenarioError(f"--runs: expected at least 1, got {args.runs}")
    started_at = now()
    print(
        f"exploring {args.runs} schedules from seed {args.seed}"
        + (f" against mutant {args.mutant}" if args.mutant else "")
    )
    result = explore(
        args.runs,
        args.seed,
        args.mutant,
        Path(args.out),
        shrink_runs=args.shrink_runs,
        progress=print,
        backend=args.backend,
    )
    rows = [["run", "schedule", "invariants"]]
    rows += [[str(r), summary, ", ".join(broken) or "hold"] for r, summary, broken in result.runs]
    print(render_table(rows))
    for finding in result.findings:
        print(f"violation in run {finding.run}: {', '.join(finding.broken)}")
        print(f"  shrunk in {finding.shrink_runs} runs to: {finding.path}")
        print(
            f"  reproduce: saga scenario run {finding.path}"
            + (f" --mutant {args.mutant}" if args.mutant else "")
        )
    print(f"{len(result.findings)} violation(s) in {len(result.runs)} run(s)")
    if args.report:
        run = run_metadata(seed=args.seed, backend=args.backend, started_at=started_at)
        journal = write_journal(result.results, Path(args.report), run)
        print(f"journal: {journal}")
        print(f"html:    {write_html_from(journal)}")
    return 1 if result.findings else 0


def add_explore_command(sub: Any) -> None:
    """Register ``saga explore`` on the ``saga`` parser."""
    parser = sub.add_parser("explore", help="random fault schedules; shrink what breaks the saga")
    parser.add_argument(
        "--virtual",
        action="store_true",
        help="in virtual time: the real workflow code on a deterministic model of Temporal, "
        "services as in-process models (thousands of schedules a minute)",
    )
    parser.add_argument("--runs", type=int, default=20, help="real-stack schedules (default 20)")
    parser.add_argument("--schedules", type=int, help="--virtual: schedules to draw (default 1000)")
    parser.add_argument(
        "--replay",
        metavar="SEED|FILE",
        help="--virtual: run one schedule again, by its seed or a written schedule file",
    )
    parser.add_argument("--seed", type=int, default=1, help="same seed, same schedules")
    parser.add_argument(
        "--jobs",
        type=int,
        default=None,
        help="--virtual: worker processes (default: one per core); the report is the same"
        " for any number",
    )
    parser.add_argument("--mutant", help="explore against this saga mutant (saga mutants list)")
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default="dev",
        help="real-stack runs: the stack's backend; cluster also draws the faults only it runs"
        " (an account worker's clock off)",
    )
    parser.add_argument("--out", default="explore", help="where minimal scenarios go")
    parser.add_argument("--shrink-runs", type=int, default=20, help="budget for shrinking")
    parser.add_argument(
        "--report",
        metavar="DIR",
        help="real-stack runs: write journal.json and index.html, one section per drawn run",
    )
    parser.set_defaults(func=cmd_explore)
