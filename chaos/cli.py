"""``saga scenario list | show | validate | run``."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any, Literal

from chaos.bench import report as bench_report
from chaos.bench.runner import CLIMB_BEYOND_CEILING, K6_WAIT_S, Bench
from chaos.errors import ChaosError, ScenarioError
from chaos.journal import write_journal
from chaos.k6 import THRESHOLDS_FAILED, require_k6
from chaos.load import LoadOptions, LoadTest, summary_rows
from chaos.mutants.sagas import MUTANTS
from chaos.mutants.score import require_mutants
from chaos.mutants.worker import entry
from chaos.report import write_report
from chaos.run_metadata import now, run_metadata
from chaos.runner import ScenarioResult, ScenarioRunner
from chaos.scenario import Scenario, find_scenario, load_scenario, scenario_files
from orchestrator.api.service import MAX_WAIT_S
from runtime.attached import AttachedStack
from runtime.compose import COMPOSE_BUILD, ComposeStack
from runtime.embedded import EmbeddedStack, StackOptions
from runtime.process_names import BACKENDS, Backend
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
    from chaos.format_reference import reference

    print(reference(), end="")
    return 0


def _verdict_table(result: ScenarioResult) -> str:
    rows = [["expectation", "expected", "observed", "result"]]
    rows += [
        [v.name, v.expected, v.observed, "pass" if v.passed else "FAIL"] for v in result.verdicts
    ]
    return render_table(rows)


def run_scenarios(
    scenarios: list[Scenario], stack: RunningStack, seed: int | None, out: Any = print
) -> list[ScenarioResult]:
    """Run scenarios one after another on a started stack, printing progress and verdicts."""
    runner = ScenarioRunner(stack, progress=out)
    results = []
    began = time.monotonic()
    for i, scenario in enumerate(scenarios):
        out(f"== [{i + 1}/{len(scenarios)}] {scenario.name}: {_summary(scenario)}")
        if i:
            elapsed = time.monotonic() - began
            eta = elapsed / i * (len(scenarios) - i)
            out(f"   {elapsed:.0f}s elapsed, about {eta:.0f}s to go")
        result = runner.run(scenario, seed)
        results.append(result)
        out(_verdict_table(result))
        if result.error:
            out(f"run error: {result.error}")
        out(f"{scenario.name}: {'PASS' if result.passed else 'FAIL'} in {result.duration_s:.1f}s\n")
    return results


@in_scratch_state_dir("saga-chaos-")
def cmd_run(args: argparse.Namespace) -> int:
    """Start a stack, run the scenarios, write the journal and report; exit 0 if all held."""
    if args.all == bool(args.names):
        raise ScenarioError("name scenarios to run, or pass --all")
    paths = scenario_files() if args.all else [find_scenario(n) for n in args.names]
    scenarios = [load_scenario(p) for p in paths]
    if args.attach is None and args.compose is None:
        scenarios = _on_backend(scenarios, args.backend, every=args.all)
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
    stack = _stack_for(
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
        results = run_scenarios(scenarios, stack, args.seed)
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
            print(f"journal: {write_journal(results, report_dir, run)}")
            print(f"report:  {write_report(results, report_dir, run)}")
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


def _on_backend(scenarios: list[Scenario], backend: Backend, *, every: bool) -> list[Scenario]:
    """The scenarios a stack of ``backend`` can run. Named ones it cannot: an error saying what
    is missing; with ``--all``, they are left out and listed."""
    missing = {s.name: s.missing_on(backend) for s in scenarios}
    cannot = {name: parts for name, parts in missing.items() if parts}
    if cannot and not every:
        lines = [f"  {name}: {', '.join(parts)}" for name, parts in cannot.items()]
        raise ScenarioError(
            f"the {backend} backend does not run what these scenarios break (try --backend"
            " cluster):\n" + "\n".join(lines)
        )
    if cannot:
        print(f"left out, the {backend} backend lacks what they break: {', '.join(cannot)}")
    return [s for s in scenarios if s.name not in cannot]


def compose_refusals(scenario: Scenario) -> list[str]:
    """What a scenario asks that a docker-compose deployment cannot do (``runtime.compose``)."""
    refused = []
    if scenario.build != COMPOSE_BUILD:
        refused.append(f"build: {scenario.build} (compose runs {COMPOSE_BUILD} only)")
    return refused + scenario.refusals("compose")


def _stack_for(
    args: argparse.Namespace, scenarios: list[Scenario], options: StackOptions
) -> EmbeddedStack | AttachedStack | ComposeStack:
    """The stack the run attacks: a new one (``--backend``), the one ``saga up`` runs
    (``--attach``), or a docker-compose deployment (``--compose``)."""
    if args.attach is not None and args.compose is not None:
        raise ScenarioError("--attach or --compose: one stack at a time")
    if args.compose is not None:
        refused = {s.name: compose_refusals(s) for s in scenarios}
        lines = [f"  {name}: {'; '.join(r)}" for name, r in refused.items() if r]
        if lines:
            raise ScenarioError("not on a docker-compose deployment:\n" + "\n".join(lines))
        print(f"attacking the docker-compose deployment in {args.compose} ...")
        return ComposeStack(Path(args.compose))
    if args.attach is not None:
        stack = AttachedStack(Path(args.attach))
        print(f"attached to the stack in {args.attach}; what the runs change is put back after")
    else:
        print(f"starting the {options.backend} backend's stack in {options.state_dir} ...")
        return EmbeddedStack(options)
    if any(s.needs_toxiproxy for s in scenarios) and stack.links is None:
        raise ScenarioError("these scenarios break links: the attached stack has no Toxiproxy")
    return stack


def _compose_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--compose",
        nargs="?",
        const=".",
        metavar="DIR",
        help="attack the docker-compose deployment run from DIR (default: here) instead of a"
        " fresh stack; needs .env's variables exported (docs/harness.md)",
    )


def k6_wait(text: str) -> int:
    """A ``--wait`` value: whole seconds from 0 to 20, the API's bound on ``?wait=``."""
    try:
        seconds = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected whole seconds, got {text!r}") from None
    if not 0 <= seconds <= MAX_WAIT_S:
        raise argparse.ArgumentTypeError(f"must be from 0 to {MAX_WAIT_S:g}, got {seconds}")
    return seconds


def _backend_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default="dev",
        help="dev: the Temporal dev server and a SQLite ledger (default); cluster: the Temporal"
        " server's services on PostgreSQL, the ledger on PostgreSQL, two account workers"
        " (docs/cluster.md)",
    )


def _attach_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--attach",
        nargs="?",
        const=os.environ.get("SAGA_STATE_DIR") or ".saga",
        metavar="STATE_DIR",
        help="run against the stack `saga up` runs in STATE_DIR (default $SAGA_STATE_DIR or"
        " .saga) instead of a fresh one; what the run changes is put back afterwards",
    )


@in_scratch_state_dir("saga-load-")
def cmd_load(args: argparse.Namespace) -> int:
    """Start a stack, run k6 (and a scenario's faults), check invariants; exit 0 if all held."""
    scenario = load_scenario(find_scenario(args.scenario)) if args.scenario else None
    if args.rate <= 0:
        raise ScenarioError(f"--rate: must be > 0, got {args.rate:g}")
    if scenario is not None and args.attach is None and args.compose is None:
        _on_backend([scenario], args.backend, every=False)
    require_k6()
    state_dir = Path(args.state_dir)
    scenarios = [scenario] if scenario else []
    # Links only when the scenario breaks one: every hop through Toxiproxy costs CPU under load.
    toxiproxy: Literal["on", "off"] = "on" if scenario and scenario.needs_toxiproxy else "off"

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    stack = _stack_for(
        args,
        scenarios,
        StackOptions(
            state_dir=state_dir,
            ui=False,
            toxiproxy=toxiproxy,
            worker_versioning=True,
            backend=args.backend,
        ),
    )
    try:
        if isinstance(stack, EmbeddedStack):
            stack.start()
        print(f"Prometheus: {stack.prometheus_url or 'not started (not on PATH)'}")
        options = LoadOptions(
            rate=args.rate,
            duration=args.duration,
            executor=args.executor,
            scenario=scenario,
            wait_s=args.wait,
        )
        report = LoadTest(stack, progress=print).run(options)
        print(render_table(summary_rows(report)))
        for problem in report.audit.problems:
            print(f"  - {problem}")
        if report.unfinished:
            print(f"not terminal after the wait: {', '.join(report.unfinished[:10])}")
        if report.k6.exit_code not in (0, THRESHOLDS_FAILED):
            print("k6 failed:\n" + "\n".join(report.k6.output_tail[-15:]))
        print(f"load {report.testid}: {'PASS' if report.passed else 'FAIL'}")
    except KeyboardInterrupt:
        print("\ninterrupted: faults rolled back, stopping the stack")
        return 130
    finally:
        stack.stop()
    return 0 if report.passed else 1


@in_scratch_state_dir("saga-bench-")
def cmd_bench(args: argparse.Namespace) -> int:
    """Run the benchmark on a fresh stack, print it and write BENCHMARKS.md."""
    try:
        rates = [float(r) for r in args.rates.split(",")]
    except ValueError:
        raise ScenarioError(
            f"--rates: expected numbers separated by commas, got {args.rates!r}"
        ) from None
    if not rates or any(r <= 0 for r in rates):
        raise ScenarioError(f"--rates: every rate must be > 0, got {args.rates!r}")
    if args.bisect < 0:
        raise ScenarioError(f"--bisect: must be >= 0, got {args.bisect}")
    require_k6()
    state_dir = Path(args.state_dir)
    print(f"starting the {args.backend} backend's stack in {state_dir} ...")
    bench = Bench(state_dir, backend=args.backend, k6_wait_s=args.wait)
    result = bench.run(
        rates,
        step_s=args.step,
        p99_bound_s=args.p99,
        ceiling_payments=args.ceiling_payments,
        bisect=args.bisect,
    )
    print(bench_report.render(result))
    print(f"written: {bench_report.write(result, Path(args.out))}")
    return 0


def add_load_command(sub: Any) -> None:
    """Register ``saga load`` on the ``saga`` parser."""
    load = sub.add_parser("load", help="k6 load through the API, optionally under a scenario")
    load.add_argument("--rate", type=float, default=10.0, help="payments per second (default 10)")
    load.add_argument("--duration", default="30s", help="k6 duration, e.g. 30s or 2m")
    load.add_argument("--scenario", help="apply this scenario's knobs and faults during the load")
    _attach_flag(load)
    _compose_flag(load)
    _backend_flag(load)
    load.add_argument("--executor", choices=["constant", "ramping"], default="constant")
    load.add_argument(
        "--wait",
        type=k6_wait,
        default=0,
        help="k6 waits for each saga with GET /payments/{id}?wait=N (1 to 20 s) instead of"
        " polling GET /payments/{id}/state (0, the default)",
    )
    load.set_defaults(func=cmd_load)

    bench = sub.add_parser("bench", help="ceiling vs full system throughput; writes BENCHMARKS.md")
    bench.add_argument(
        "--rates",
        default="2,4,6,8,10,12,16",
        help="k6 arrival rates per step; if all hold, the climb goes on by the last increment "
        f"up to {CLIMB_BEYOND_CEILING:g} x the ceiling",
    )
    bench.add_argument("--step", type=int, default=20, help="seconds per k6 step (default 20)")
    bench.add_argument("--p99", type=float, default=5.0, help="saga p99 bound in seconds")
    bench.add_argument("--ceiling-payments", type=int, default=300)
    bench.add_argument(
        "--bisect",
        type=int,
        default=3,
        help="after the first rate that does not hold, up to N steps halving the gap to the last"
        " one that did (default 3; 0: none)",
    )
    bench.add_argument(
        "--wait",
        type=k6_wait,
        default=K6_WAIT_S,
        help="k6 waits for each saga with GET /payments/{id}?wait=N (0 to 20 s; default"
        f" {K6_WAIT_S}); 0 polls GET /payments/{{id}}/state instead, as saga load does by default",
    )
    bench.add_argument("--out", default="BENCHMARKS.md")
    _backend_flag(bench)
    bench.set_defaults(func=cmd_bench)


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
    _attach_flag(run)
    _compose_flag(run)
    _backend_flag(run)
    run.set_defaults(func=cmd_run)


__all__ = ["ChaosError", "add_load_command", "add_scenario_commands"]
