"""``saga scenario list | show | validate | run``."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Any, Literal

from chaos.errors import ChaosError, ScenarioError
from chaos.mutants.sagas import MUTANTS
from chaos.mutants.score import require_mutants
from chaos.mutants.worker import entry
from chaos.run.runner import ScenarioResult, ScenarioRunner
from chaos.run.stacks import attach_flag, backend_flag, compose_flag, on_backend, stack_for
from chaos.scenario.format import Scenario, find_scenario, load_scenario, scenario_files
from chaos.verdicts.html import write_html_from
from chaos.verdicts.journal import write_journal
from chaos.verdicts.report import write_report
from chaos.verdicts.run_metadata import now, run_metadata
from runtime.embedded import EmbeddedStack, StackOptions
from runtime.progress import Steps
from runtime.scratch import in_scratch_state_dir
from runtime.stack_view import RunningStack
from runtime.tables import render_table


def _summary(scenario: Scenario, width: int = 90) -> str:
    """The description's first sentence, on one line."""
    text = " ".join(scenario.description.split())
    sentence = text.split(": ")[0] if ": " in text[:width] else text
    return sentence if len(sentence) <= width else sentence[: width - 3] + "..."


def cmd_list(args: argparse.Namespace) -> int:
    """One line per scenario."""
    rows = [["scenario", "tags", "description"]]
    for path in scenario_files():
        scenario = load_scenario(path)
        rows.append([scenario.name, ",".join(scenario.tags), _summary(scenario)])
    print(render_table(rows))
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    """Print a scenario file after validating it."""
    path = find_scenario(args.name)
    load_scenario(path)
    print(f"# {path}")
    print(path.read_text(), end="")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    """Validate files (default: every scenario); exit 1 if any is invalid."""
    names = args.files or [str(p) for p in scenario_files()]
    failures = 0
    for name in names:
        path = Path(name)
        try:
            path = find_scenario(name)
            load_scenario(path)
        except ScenarioError as exc:
            failures += 1
            print(exc, file=sys.stderr)
        else:
            print(f"{path}: ok")
    return 1 if failures else 0


def cmd_reference(args: argparse.Namespace) -> int:
    """Print the format reference generated from the structs."""
    from chaos.scenario.reference import reference

    print(reference(), end="")
    return 0


def _verdict_table(result: ScenarioResult) -> str:
    rows = [["expectation", "expected", "observed", "result"]]
    rows += [
        [v.name, v.expected, v.observed, "pass" if v.passed else "FAIL"] for v in result.verdicts
    ]
    return render_table(rows)


def run_scenarios(
    scenarios: list[Scenario],
    stack: RunningStack,
    seed: int | None,
    out: Any = print,
    *,
    panels: bool = False,
) -> list[ScenarioResult]:
    """Run scenarios one after another on a started stack, printing progress and verdicts
    (``panels``: capture the dashboards' panels for the HTML report)."""
    runner = ScenarioRunner(stack, progress=out, panels=panels)
    results = []
    with Steps("scenarios", len(scenarios), out) as steps:
        for scenario in scenarios:
            steps.begin(f"{scenario.name}: {_summary(scenario)}")
            result = runner.run(scenario, seed)
            results.append(result)
            steps.advance()
            out(_verdict_table(result))
            if result.error:
                out(f"run error: {result.error}")
            verdict = "PASS" if result.passed else "FAIL"
            out(f"{scenario.name}: {verdict} in {result.duration_s:.1f}s\n")
    return results


@in_scratch_state_dir("saga-chaos-")
def cmd_run(args: argparse.Namespace) -> int:
    """Start a stack, run the scenarios, write the journal and report; exit 0 if all held."""
    if args.all == bool(args.names):
        raise ScenarioError("name scenarios to run, or pass --all")
    paths = scenario_files() if args.all else [find_scenario(n) for n in args.names]
    scenarios = [load_scenario(p) for p in paths]
    if args.attach is None and args.compose is None:
        scenarios = on_backend(scenarios, args.backend, every=args.all)
    state_dir = Path(args.state_dir)
    toxiproxy: Literal["on", "auto"] = "on" if any(s.needs_toxiproxy for s in scenarios) else "auto"

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    if args.mutant is not None:
        require_mutants([args.mutant])
    running = args.attach is not None or args.compose is not None
    if running and (args.mutant or args.keep_stack):
        raise ScenarioError(
            "--attach and --compose run on the stack as it is: not with --mutant, --keep-stack"
        )
    stack = stack_for(
        args,
        scenarios,
        StackOptions(
            state_dir=state_dir,
            ui=args.keep_stack,
            toxiproxy=toxiproxy,
            worker_versioning=True,
            worker_entry=entry(args.mutant),
            backend=args.backend,
        ),
    )
    if args.mutant:
        print(f"the payments worker runs mutant {args.mutant}: {MUTANTS[args.mutant].bug}")
    started_at = now()
    try:
        if isinstance(stack, EmbeddedStack):
            stack.start()
        results = run_scenarios(scenarios, stack, args.seed, panels=bool(args.report))
        summary = [["scenario", "result", "payments", "duration"]]
        # Failures first: they are what a reader scrolls back for.
        summary += [
            [
                r.scenario.name,
                "PASS" if r.passed else "FAIL",
                str(len(r.payments)),
                f"{r.duration_s:.1f}s",
            ]
            for r in sorted(results, key=lambda r: r.passed)
        ]
        print(render_table(summary))
        failed = sum(not r.passed for r in results)
        print(f"{len(results) - failed} of {len(results)} scenarios held, {failed} failed")
        if args.report:
            report_dir = Path(args.report)
            run = run_metadata(seed=args.seed, backend=args.backend, started_at=started_at)
            journal = write_journal(results, report_dir, run)
            print(f"journal: {journal}")
            print(f"report:  {write_report(results, report_dir, run)}")
            print(f"html:    {write_html_from(journal)}")
        if args.keep_stack:
            assert stack.config
            print(
                f"stack kept: API {stack.config.api_url}, Temporal UI {stack.ui_url}; Ctrl-C stops"
            )
            signal.pause()
    except KeyboardInterrupt:
        print("\ninterrupted: faults rolled back, stopping the stack")
        return 130
    finally:
        stack.stop()  # an attached stack keeps running, put back as it was found
    return 0 if all(r.passed for r in results) else 1


def add_scenario_commands(sub: Any) -> None:
    """Register ``saga scenario ...`` on the ``saga`` parser."""
    scenario = sub.add_parser("scenario", help="named chaos scenarios")
    commands = scenario.add_subparsers(dest="scenario_command", required=True)
    commands.add_parser("list", help="list the scenarios").set_defaults(func=cmd_list)
    show = commands.add_parser("show", help="print a scenario")
    show.add_argument("name")
    show.set_defaults(func=cmd_show)
    validate = commands.add_parser("validate", help="validate scenario files")
    validate.add_argument("files", nargs="*", help="default: every file in scenarios/")
    validate.set_defaults(func=cmd_validate)
    commands.add_parser(
        "reference", help="print the scenario format reference (docs/scenario-format.md)"
    ).set_defaults(func=cmd_reference)
    run = commands.add_parser("run", help="run scenarios against a fresh embedded stack")
    run.add_argument("names", nargs="*")
    run.add_argument("--all", action="store_true", help="every scenario in scenarios/")
    run.add_argument("--seed", type=int, help="override every scenario's seed")
    run.add_argument("--report", metavar="DIR", help="write journal.json, report.md and charts")
    run.add_argument("--keep-stack", action="store_true", help="keep the stack up afterwards")
    run.add_argument("--mutant", help="run against this saga mutant (see saga mutants list)")
    attach_flag(run)
    compose_flag(run)
    backend_flag(run)
    run.set_defaults(func=cmd_run)


__all__ = ["ChaosError", "add_scenario_commands"]
