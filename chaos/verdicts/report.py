"""The human report: Markdown with, per scenario, a timeline chart (matplotlib, SVG) and a sample
history.

The chart shows payments by state over time (from the API), money debited and not refunded
(from the ledger, dashed), each fault's window shaded, and the stretches in which the API did not
answer the sampler in grey; the sample is the step-by-step Temporal history of a payment that
compensated.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from chaos.run.runner import ScenarioResult

STATE_COLOURS = {
    "pending": "#9e9e9e",
    "processing": "#1e88e5",
    "succeeded": "#43a047",
    "failed": "#e53935",
    "cancelled": "#fb8c00",
}
FAULT_COLOURS = ["#ffe082", "#b39ddb", "#80cbc4", "#f48fb1", "#bcaaa4"]


def timeline_chart(result: ScenarioResult, path: Path) -> Path:
    """Payments by state over time (lines), money debited and not refunded (dashed), fault
    windows (shaded bands) and API gaps (grey), drawn with matplotlib into ``path`` (SVG or PNG,
    by its suffix)."""
    from matplotlib.figure import Figure  # the object API: no pyplot global state

    samples = result.samples or [{"t": 0.0}]
    t_max = max(
        [float(s["t"]) for s in samples] + [f.planned_until_s for f in result.faults] + [1.0]
    )
    fig = Figure(figsize=(8.5, 3.2))
    ax = fig.add_subplot()
    for i, fault in enumerate(result.faults):
        start = fault.started_at_s if fault.started_at_s is not None else fault.planned_at_s
        end = fault.reverted_at_s if fault.reverted_at_s is not None else fault.planned_until_s
        colour = FAULT_COLOURS[i % len(FAULT_COLOURS)]
        ax.axvspan(start, max(end, start + t_max / 500), color=colour, alpha=0.35)
        ax.annotate(
            fault.description,
            (start, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(2, -12 - 12 * i),
            textcoords="offset points",
            fontsize=8,
        )
    for n, (start_t, end_t) in enumerate(_gaps(samples, "api")):
        ax.axvspan(start_t, end_t, color="#616161", alpha=0.25, label=None if n else "API gap")
    for state, colour in STATE_COLOURS.items():
        for n, run in enumerate(_runs(samples, "api")):
            ax.plot(
                [s["t"] for s in run],
                [s.get(state, 0) for s in run],
                color=colour,
                linewidth=2,
                label=None if n else state,
            )
    for n, run in enumerate(_runs(samples, "ledger")):
        ax.plot(
            [s["t"] for s in run],
            [
                (s.get("ledger") or {}).get("debit", 0) - (s.get("ledger") or {}).get("refund", 0)
                for s in run
            ],
            color="black",
            linestyle="--",
            linewidth=1,
            label=None if n else "debited (ledger)",
        )
    ax.set(
        xlim=(0, t_max),
        ylim=(0, max(len(result.payments), 1) * 1.05),
        xlabel="seconds since the workload started",
        ylabel="payments",
        title=f"{result.scenario.name}: payments by state, faults shaded, API gaps grey",
    )
    ax.title.set_fontsize(10)
    ax.grid(alpha=0.3)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, frameon=False)
    fig.tight_layout()
    fig.savefig(path)
    return path


def _runs(samples: list[dict[str, Any]], source: str) -> list[list[dict[str, Any]]]:
    """Consecutive samples in which ``source`` answered (a sample without the key counts)."""
    runs: list[list[dict[str, Any]]] = [[]]
    for sample in samples:
        if sample.get(source, True) in (None, False):
            runs.append([])
        else:
            runs[-1].append(sample)
    return [run for run in runs if run]


def _gaps(samples: list[dict[str, Any]], source: str) -> list[tuple[float, float]]:
    """(start, end) times of the stretches in which ``source`` did not answer."""
    gaps: list[tuple[float, float]] = []
    previous = 0.0
    opened: float | None = None
    for sample in samples:
        answered = sample.get(source, True) not in (None, False)
        if not answered and opened is None:
            opened = previous
        if answered and opened is not None:
            gaps.append((opened, float(sample["t"])))
            opened = None
        previous = float(sample["t"])
    if opened is not None:
        gaps.append((opened, previous))
    return gaps


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return lines


def write_report(
    results: list[ScenarioResult], directory: Path, run: dict[str, Any] | None = None
) -> Path:
    """Write ``report.md`` and one ``<scenario>.svg`` chart per scenario; ``run`` (the run's
    metadata) heads it."""
    directory.mkdir(parents=True, exist_ok=True)
    lines = ["# Chaos run report", ""]
    if run:
        lines += [*_table(["run", ""], [[key, f"`{value}`"] for key, value in run.items()]), ""]
    lines += _table(
        ["scenario", "result", "payments", "duration", "seed"],
        [
            [
                r.scenario.name,
                "PASS" if r.passed else "FAIL",
                str(len(r.payments)),
                f"{r.duration_s:.1f}s",
                str(r.scenario.seed),
            ]
            for r in results
        ],
    )
    for result in results:
        chart = timeline_chart(result, directory / f"{result.scenario.name}.svg")
        lines += [
            "",
            f"## {result.scenario.name}: {'PASS' if result.passed else 'FAIL'}",
            "",
            result.scenario.description.strip(),
            "",
        ]
        if result.error:
            lines += [f"**Run error:** `{result.error}`", ""]
        lines += [f"![{result.scenario.name} timeline]({chart.name})", ""]
        lines += _table(
            ["expectation", "expected", "observed", "held"],
            [
                [v.name, v.expected, v.observed, "yes" if v.passed else "**NO**"]
                for v in result.verdicts
            ],
        )
        if result.faults:
            lines += ["", "Faults:", ""]
            lines += _table(
                ["fault", "planned", "applied", "reverted", "error"],
                [
                    [
                        f.description,
                        f"{f.planned_at_s:g}-{f.planned_until_s:g}s",
                        f"{f.applied_at_s:.1f}s" if f.applied_at_s is not None else "-",
                        f"{f.reverted_at_s:.1f}s" if f.reverted_at_s is not None else "-",
                        f.error or "",
                    ]
                    for f in result.faults
                ],
            )
        evidence = result.evidence
        if evidence and evidence.sample_history:
            lines += [
                "",
                f"Sample payment `{evidence.sample_payment}`, from its Temporal history:",
                "",
            ]
            lines += _table(
                ["t", "event", "detail"],
                [
                    [f"+{s['offset_s']:.2f}s", s["event"], s["detail"]]
                    for s in evidence.sample_history
                ],
            )
    path = directory / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path
