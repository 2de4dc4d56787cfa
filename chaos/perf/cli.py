"""``saga load`` (k6 through the API, optionally under a scenario's faults) and ``saga bench``
(ceiling against full system; writes BENCHMARKS.md)."""

from __future__ import annotations

import argparse
import signal
from pathlib import Path
from types import FrameType
from typing import Any, Literal

import msgspec

from chaos.errors import ScenarioError
from chaos.perf.bench import report as bench_report
from chaos.perf.bench.runner import CLIMB_BEYOND_CEILING, K6_WAIT_S, Bench
from chaos.perf.k6 import THRESHOLDS_FAILED, require_k6
from chaos.perf.load import LoadOptions, LoadTest, load_journal, summary_rows
from chaos.run.stacks import attach_flag, backend_flag, compose_flag, on_backend, stack_for
from chaos.scenario.format import find_scenario, load_scenario
from chaos.verdicts.html import write_html
from chaos.verdicts.run_metadata import now, run_metadata
from orchestrator.api.service import MAX_WAIT_S
from runtime.embedded import EmbeddedStack, StackOptions
from runtime.scratch import in_scratch_state_dir
from runtime.tables import render_table


def k6_wait(text: str) -> int:
    """A ``--wait`` value: whole seconds from 0 to 20, the API's bound on ``?wait=``."""
    try:
        seconds = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected whole seconds, got {text!r}") from None
    if not 0 <= seconds <= MAX_WAIT_S:
        raise argparse.ArgumentTypeError(f"must be from 0 to {MAX_WAIT_S:g}, got {seconds}")
    return seconds


@in_scratch_state_dir("saga-load-")
def cmd_load(args: argparse.Namespace) -> int:
    """Start a stack, run k6 (and a scenario's faults), check invariants; exit 0 if all held."""
    scenario = load_scenario(find_scenario(args.scenario)) if args.scenario else None
    if args.rate <= 0:
        raise ScenarioError(f"--rate: must be > 0, got {args.rate:g}")
    if scenario is not None and args.attach is None and args.compose is None:
        on_backend([scenario], args.backend, every=False)
    require_k6()
    started_at = now()
    state_dir = Path(args.state_dir)
    scenarios = [scenario] if scenario else []
    # Links only when the scenario breaks one: every hop through Toxiproxy costs CPU under load.
    toxiproxy: Literal["on", "off"] = "on" if scenario and scenario.needs_toxiproxy else "off"

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    stack = stack_for(
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
            panels=bool(args.report),
        )
        report = LoadTest(stack, progress=print).run(options)
        if args.report:
            directory = Path(args.report)
            directory.mkdir(parents=True, exist_ok=True)
            run = run_metadata(seed=None, backend=args.backend, started_at=started_at)
            journal = load_journal(report, options, run)
            path = directory / "journal.json"
            path.write_bytes(msgspec.json.format(msgspec.json.encode(journal)))
            print(f"journal: {path}")
            print(f"html:    {write_html(journal, directory)}")
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
    if args.repeat < 1:
        raise ScenarioError(f"--repeat: must be >= 1, got {args.repeat}")
    require_k6()
    results = []
    for run in range(args.repeat):
        state_dir = Path(args.state_dir) / (f"run-{run + 1}" if args.repeat > 1 else "")
        print(f"starting the {args.backend} backend's stack in {state_dir} ...")
        if args.repeat > 1:
            print(f"run {run + 1} of {args.repeat}")
        bench = Bench(state_dir, backend=args.backend, k6_wait_s=args.wait)
        results.append(
            bench.run(
                rates,
                step_s=args.step,
                p99_bound_s=args.p99,
                ceiling_payments=args.ceiling_payments,
                bisect=args.bisect,
            )
        )
    result = bench_report.median_run(results)
    print(bench_report.render(result, results))
    print(f"written: {bench_report.write(result, Path(args.out), results)}")
    return 0


def add_load_command(sub: Any) -> None:
    """Register ``saga load`` on the ``saga`` parser."""
    load = sub.add_parser("load", help="k6 load through the API, optionally under a scenario")
    load.add_argument("--rate", type=float, default=10.0, help="payments per second (default 10)")
    load.add_argument("--duration", default="30s", help="k6 duration, e.g. 30s or 2m")
    load.add_argument("--scenario", help="apply this scenario's knobs and faults during the load")
    attach_flag(load)
    compose_flag(load)
    backend_flag(load)
    load.add_argument("--executor", choices=["constant", "ramping"], default="constant")
    load.add_argument(
        "--report",
        metavar="DIR",
        help="write journal.json and index.html: k6's figures and panels beside the saga's",
    )
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
    bench.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="whole runs, each on a fresh stack; reports each figure's median and spread and"
        " writes the median run (default 1)",
    )
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
    backend_flag(bench)
    bench.set_defaults(func=cmd_bench)
