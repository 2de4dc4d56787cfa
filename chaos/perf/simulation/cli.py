"""``saga simulate run | plan | ledger | calibrate | validate | chart``."""

from __future__ import annotations

import argparse
import math
import re
from pathlib import Path
from typing import Any

from chaos.errors import ScenarioError
from chaos.perf.simulation import report
from chaos.perf.simulation.calibration import PATHS, Calibration, load_calibration, save_calibration
from chaos.perf.simulation.model import Topology, simulate
from chaos.scenario.format import find_scenario, load_scenario

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(s|m|h)?$")


def parse_duration(text: str, flag: str = "--duration") -> float:
    """``90``, ``90s``, ``10m``, ``1h`` in seconds; a clear error otherwise."""
    match = _DURATION.match(text.strip())
    if not match:
        raise ScenarioError(f"{flag}: cannot read {text!r} (use e.g. 30s, 10m, 1h)")
    value = float(match.group(1)) * {"s": 1, "m": 60, "h": 3600}[match.group(2) or "s"]
    if value <= 0:
        raise ScenarioError(f"{flag}: must be > 0")
    return value


def _positive(value: float, flag: str) -> float:
    if value <= 0:
        raise ScenarioError(f"{flag}: must be > 0, got {value:g}")
    return value


def _rates(text: str) -> list[float]:
    try:
        rates = [float(r) for r in text.split(",")]
    except ValueError:
        raise ScenarioError(
            f"--rates: expected numbers separated by commas, got {text!r}"
        ) from None
    for rate in rates:
        _positive(rate, "--rates")
    return rates


def _calibration_path(args: argparse.Namespace) -> Path:
    return Path(args.calibration) if args.calibration else PATHS[args.backend]


def _calibration(args: argparse.Namespace) -> Calibration:
    """The calibration ``--calibration`` names, else the one measured on ``--backend``."""
    path = _calibration_path(args)
    if not path.exists():
        raise ScenarioError(
            f"--calibration: {path} does not exist (measure one: `saga simulate calibrate"
            f" --backend {args.backend}`)"
        )
    return load_calibration(path)


def _topology(args: argparse.Namespace, rate: float) -> Topology:
    cal = _calibration(args)
    if args.workers is None:
        return Topology.machine(cal.machine_cores)
    workers = int(_positive(args.workers, "--workers"))
    # Default: enough server cores for the calibrated work per payment at 70% busy.
    needed = math.ceil(rate * cal.events_per_payment * cal.server_event_s / 0.7)
    server = int(_positive(args.server_cores or max(1, needed), "--server-cores"))
    return Topology.scaled(workers, server, args.shards)


def cmd_run(args: argparse.Namespace) -> int:
    """Simulate one scenario at one rate and print the table."""
    scenario = load_scenario(find_scenario(args.scenario))
    result = simulate(
        scenario,
        _calibration(args),
        _topology(args, args.rate),
        _positive(args.rate, "--rate"),
        parse_duration(args.duration),
    )
    print(report.result_table(result))
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    """Find the smallest cluster for a target, and size it service by service."""
    from chaos.perf.simulation import ledger, sizing
    from chaos.perf.simulation.plan import make_plan

    scenario = load_scenario(find_scenario(args.scenario))
    cal = _calibration(args)
    plan = make_plan(
        scenario,
        cal,
        _positive(args.target_rate, "--rate"),
        _positive(args.p99, "--p99"),
        duration_s=parse_duration(args.duration),
    )
    print(f"calibration: {_calibration_path(args)} (backend {cal.backend}; {cal.source})")
    print(report.plan_text(plan))
    if plan.best is not None:
        host_cores = int(_positive(args.host_cores, "--host-cores"))
        result = plan.best.result
        refunds = result.tally.compensations["refund"] / max(1, result.tally.finished)
        fitted = ledger.load()
        parts = sizing.size_cluster(plan, fitted, host_cores, sizing.service_costs(), refunds)
        print()
        print(sizing.sizing_text(parts, fitted, host_cores))
    return 0 if plan.best else 1


def cmd_ledger(args: argparse.Namespace) -> int:
    """Fit the ledger model to ``make bench-ledger`` and check it against every point."""
    from chaos.perf.simulation import ledger
    from runtime.tables import render_table

    points = ledger.bench_points()
    if not points:
        raise ScenarioError(
            "BENCHMARKS.md holds no `make bench-ledger` PostgreSQL points: run `make bench-ledger`"
        )
    fitted = ledger.fit(points) if args.fit else ledger.load()
    if args.fit:
        print(f"written: {ledger.save(fitted)}")
    print(
        f"writer CPU {fitted.client_cpu_s * 1000:.3f} ms, database CPU"
        f" {fitted.db_cpu_s * 1000:.3f} ms, latency {fitted.latency_s * 1000:.3f} ms per debit"
        f" on {fitted.cores} cores ({fitted.source})"
    )
    checks = ledger.validate(fitted, points)
    rows = [["accounts", "writers", "processes", "locking", "bench /s", "model /s", "error"]]
    rows += [
        [
            str(c.point.accounts),
            str(c.point.writers),
            str(c.point.processes),
            "single lock" if c.locking == "global" else "per-account",
            f"{c.point.measured(c.locking):,.0f}",
            f"{c.model:,.0f}",
            f"{c.error:+.0%}",
        ]
        for c in checks
    ]
    print(render_table(rows))
    within = sum(abs(c.error) <= ledger.TOLERANCE for c in checks)
    print(f"{within} of {len(checks)} figures within {ledger.TOLERANCE:.0%} of the bench")
    return 0 if within == len(checks) else 1


def _state_dir(args: argparse.Namespace) -> Path | None:
    """``--state-dir``: the measured stack's state kept there (default: a scratch directory,
    removed once the stack stops)."""
    given = getattr(args, "state_dir", None)
    return Path(given) if given else None


def cmd_calibrate(args: argparse.Namespace) -> int:
    """Measure service times on the real stack and store them."""
    from chaos.perf.simulation.measure import calibrate

    cal, measured = calibrate(
        _positive(args.rate, "--rate"),
        int(parse_duration(args.duration)),
        backend=args.backend,
        state_dir=_state_dir(args),
    )
    print(f"measured: {measured.payments} payments, p50 {measured.p50_s:.3f}s")
    print(f"written: {save_calibration(cal, Path(args.out or PATHS[args.backend]))}")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    """Real runs vs the model; the table goes into BENCHMARKS.md."""
    from chaos.perf.simulation.measure import validate

    cal = _calibration(args)
    if args.repeat < 1:
        raise ScenarioError(f"--repeat: must be >= 1, got {args.repeat}")
    pairs = validate(
        cal,
        _rates(args.rates),
        int(parse_duration(args.duration)),
        args.repeat,
        state_dir=_state_dir(args),
    )
    path, misses = report.write_validation(pairs, cal.source, Path(args.out))
    rows, _ = report.validation_rows(pairs)
    from runtime.tables import render_table

    print(render_table(rows))
    print(f"written: {path}; {misses} figure(s) off by more than 20%")
    return 0 if misses == 0 else 1


def cmd_chart(args: argparse.Namespace) -> int:
    """Latency and saturation against load, as PNG."""
    scenario = load_scenario(find_scenario(args.scenario))
    cal = _calibration(args)
    rates = _rates(args.rates)
    topology = _topology(args, max(rates))
    duration = parse_duration(args.duration)
    results = [simulate(scenario, cal, topology, rate, duration) for rate in rates]
    for path in report.charts(results, Path(args.out)):
        print(f"written: {path}")
    return 0


def add_simulate_commands(sub: Any) -> None:
    """Register ``saga simulate ...``."""
    simulate_parser = sub.add_parser("simulate", help="the SimPy model of the saga at scale")
    commands = simulate_parser.add_subparsers(dest="simulate_command", required=True)

    def common(parser: argparse.ArgumentParser, default_backend: str = "dev") -> None:
        backend(parser, default_backend)
        parser.add_argument(
            "--calibration",
            help="service times (default: the calibration of --backend, chaos/perf/simulation/"
            "calibration.json or calibration-cluster.json)",
        )

    def backend(parser: argparse.ArgumentParser, default: str = "dev") -> None:
        parser.add_argument(
            "--backend",
            choices=sorted(PATHS),
            default=default,
            help=f"dev or cluster (default {default}): the stack measured, or whose calibration"
            " is used",
        )

    def topology(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--workers", type=int, help="worker processes per role (default: this machine)"
        )
        parser.add_argument(
            "--server-cores",
            type=int,
            help="Temporal server cores (default: the calibrated work at 70%% busy)",
        )
        parser.add_argument(
            "--shards", type=int, default=4096, help="history shards: cap the server's parallelism"
        )

    run = commands.add_parser("run", help="simulate a scenario at a rate")
    run.add_argument("scenario")
    run.add_argument("--rate", type=float, default=10.0, help="payments per second")
    run.add_argument("--duration", default="60s", help="e.g. 60s, 10m, 1h")
    common(run)
    topology(run)
    run.set_defaults(func=cmd_run)

    plan = commands.add_parser(
        "plan", help="smallest cluster for a target rate, sized service by service"
    )
    plan.add_argument(
        "--rate", "--target-rate", dest="target_rate", type=float, required=True,
        help="payments per second",
    )  # fmt: skip
    plan.add_argument("--p99", type=float, default=5.0, help="saga p99 bound in s (default 5)")
    plan.add_argument("--scenario", default="happy-path")
    plan.add_argument("--duration", default="60s", help="simulated time per trial")
    plan.add_argument("--host-cores", type=int, default=8, help="cores per host (default 8)")
    common(plan, default_backend="cluster")
    plan.set_defaults(func=cmd_plan)

    fit = commands.add_parser(
        "ledger", help="the ledger model against make bench-ledger (--fit: refit it first)"
    )
    fit.add_argument("--fit", action="store_true", help="refit from BENCHMARKS.md and store it")
    fit.set_defaults(func=cmd_ledger)

    calibrate = commands.add_parser("calibrate", help="measure service times on the real stack")
    calibrate.add_argument("--rate", type=float, default=3.0)
    calibrate.add_argument("--duration", default="30s")
    calibrate.add_argument("--out", help="default: the --backend's calibration file")
    backend(calibrate)
    calibrate.set_defaults(func=cmd_calibrate)

    validate = commands.add_parser("validate", help="model vs real runs, into BENCHMARKS.md")
    validate.add_argument("--rates", default="2,4,6")
    validate.add_argument("--duration", default="30s")
    validate.add_argument("--repeat", type=int, default=2, help="real runs per point, averaged")
    validate.add_argument("--out", default="BENCHMARKS.md")
    common(validate)
    validate.set_defaults(func=cmd_validate)

    chart = commands.add_parser("chart", help="PNG charts of latency and saturation vs load")
    chart.add_argument("scenario")
    chart.add_argument("--rates", default="2,4,6,8,10,12")
    chart.add_argument("--duration", default="60s")
    chart.add_argument("--out", default="out/simulation")
    common(chart)
    topology(chart)
    chart.set_defaults(func=cmd_chart)
