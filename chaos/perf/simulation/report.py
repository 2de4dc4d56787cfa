"""Tables, the validation section of BENCHMARKS.md, and PNG charts of the model's results."""

from __future__ import annotations

from pathlib import Path

from chaos.perf.simulation.measure import Measured
from chaos.perf.simulation.model import SimResult
from chaos.perf.simulation.plan import Plan
from runtime.tables import render_table

BEGIN = "<!-- saga simulate validate: generated -->"
END = "<!-- saga simulate validate: end -->"
TOLERANCE = 0.20


def result_table(result: SimResult) -> str:
    """What ``saga simulate run`` prints."""
    t = result.topology
    shape = (
        f"one machine, {t.shared_cores} shared cores"
        if t.shared_cores
        else f"{t.workers['payments']} workers per role, {t.server_cores} server cores, "
        f"{t.history_shards} shards"
    )
    rows = [
        ["figure", "value"],
        ["scenario", result.scenario],
        ["offered", f"{result.rate:g}/s for {result.duration_s:g} s ({shape})"],
        ["throughput", f"{result.throughput:,.1f} payments/s"],
        [
            "saga p50 / p95 / p99",
            " / ".join(f"{result.latency(p):.2f} s" for p in (50, 95, 99)),
        ],
        ["outcomes", ", ".join(f"{k} {v:.1%}" for k, v in result.shares().items())],
        [
            "compensations",
            ", ".join(
                f"{k} {v * result.scale:,}" for k, v in sorted(result.tally.compensations.items())
            )
            or "-",
        ],
        ["history events per payment", f"{result.events_per_payment:.0f}"],
        ["simulated with", f"1 entity per {result.scale} payments, {result.wall_s:.1f} s wall"],
    ]
    rows += [
        [f"saturation {name}", f"{share:.0%}"] for name, share in sorted(result.utilization.items())
    ]
    rows += [
        [f"queue p99 {name}", f"{depth:,.0f}"] for name, depth in sorted(result.queue_p99.items())
    ]
    return render_table(rows)


def plan_text(plan: Plan) -> str:
    """The plan, with the reasoning that led to it."""
    lines = [
        f"Target: {plan.target_rate:,.0f} payments/s with saga p99 <= {plan.target_p99_s:g} s.",
        "",
        "Lower bounds from the calibrated CPU per payment (cores busy all the time):",
        *(f"  {name}: {cores:,.1f}" for name, cores in plan.floors.items()),
        "",
        "Simulated configurations (short runs; 'meets' = p99 within target and throughput "
        ">= 97% of it):",
        render_table(
            [
                ["workers/role", "server cores", "throughput", "p99", "server busy", "meets"],
                *(
                    [
                        str(t.workers),
                        str(t.server_cores),
                        f"{t.result.throughput:,.0f}/s",
                        f"{t.result.latency(99):.2f} s",
                        f"{t.result.utilization.get('server', 0):.0%}",
                        "yes" if t.meets else "no",
                    ]
                    for t in plan.trials
                ),
            ]
        ),
        "",
    ]
    if plan.best is None:
        lines.append("No configuration tried met the target: raise server cores or relax p99.")
    else:
        b = plan.best
        busiest = max(b.result.utilization.items(), key=lambda kv: kv[1])
        lines.append(
            f"Answer: {b.workers} worker processes per role (4 roles, {4 * b.workers} in all) and "
            f"{b.server_cores} server cores. It gives {b.result.throughput:,.0f}/s at p99 "
            f"{b.result.latency(99):.2f} s; the busiest resource is {busiest[0]} at "
            f"{busiest[1]:.0%}. Fewer workers missed the target in the search above."
        )
    return "\n".join(lines)


def _within(predicted: float, measured: float) -> bool:
    if measured == 0:
        return predicted == 0
    return abs(predicted - measured) / measured <= TOLERANCE


def validation_rows(pairs: list[tuple[Measured, SimResult]]) -> tuple[list[list[str]], int]:
    """Predicted vs measured, and how many figures are off by more than 20%."""
    rows = [["scenario", "rate", "figure", "measured", "predicted", "error", "within 20%"]]
    misses = 0
    for real, model in pairs:
        figures = [
            ("throughput /s", real.throughput, model.throughput),
            ("saga p50 s", real.p50_s, model.latency(50)),
            ("saga p99 s", real.p99_s, model.latency(99)),
        ]
        shares = model.shares()
        figures += [(f"share {k}", v, shares.get(k, 0.0)) for k, v in real.shares.items()]
        for name, measured, predicted in figures:
            ok = _within(predicted, measured)
            misses += not ok
            error = (predicted - measured) / measured if measured else 0.0
            rows.append(
                [
                    real.scenario,
                    f"{real.rate:g}",
                    name,
                    f"{measured:.3f}",
                    f"{predicted:.3f}",
                    f"{error:+.1%}",
                    "yes" if ok else "NO",
                ]
            )
    return rows, misses


def write_validation(
    pairs: list[tuple[Measured, SimResult]], source: str, path: Path
) -> tuple[Path, int]:
    """Replace the validation block of BENCHMARKS.md; returns the path and the misses."""
    rows, misses = validation_rows(pairs)
    block = "\n".join(
        [
            BEGIN,
            "## The SimPy model against real runs",
            "",
            f"Calibration: {source}. Measured: k6 at the rate for 30 s through the API on this "
            "machine, each point on a fresh stack, saga latency from Temporal, each figure the "
            "mean of repeated runs (a 30 s "
            "run's p99 is its largest latency or nearly, so one run is noisy: at flaky-provider "
            "4/s four single runs gave p99 of 4.73, 5.62, 6.43 and 6.68 s). Predicted: the same "
            "scenario, rate and duration on the one-machine topology, the mean over 10 seeds. "
            f"{len(rows) - 1 - misses} of {len(rows) - 1} figures within 20%.",
            "",
            "```",
            render_table(rows),
            "```",
            END,
        ]
    )
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text)
    return path, misses


def charts(results: list[SimResult], out: Path) -> list[Path]:
    """Latency and saturation against offered load (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    rates = [r.rate for r in results]
    name = results[0].scenario
    fig, ax = plt.subplots(figsize=(7, 4))
    for p in (50, 95, 99):
        ax.plot(rates, [r.latency(p) for r in results], marker="o", label=f"p{p}")
    ax.set(xlabel="offered payments/s", ylabel="saga latency (s)", title=f"{name}: latency")
    ax.grid(alpha=0.3)
    ax.legend()
    latency = out / f"{name}-latency.png"
    fig.tight_layout()
    fig.savefig(latency, dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 4))
    for resource in sorted(results[0].utilization):
        ax.plot(
            rates,
            [r.utilization.get(resource, 0.0) for r in results],
            marker="o",
            label=resource,
        )
    ax.set(
        xlabel="offered payments/s",
        ylabel="busy share",
        ylim=(0, 1.05),
        title=f"{name}: saturation by resource",
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    saturation = out / f"{name}-saturation.png"
    fig.tight_layout()
    fig.savefig(saturation, dpi=110)
    plt.close(fig)
    return [latency, saturation]
