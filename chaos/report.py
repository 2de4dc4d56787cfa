"""The human report: Markdown with, per scenario, a timeline chart (SVG) and a sample history.

The chart shows payments by state over time (from the API), money debited and not refunded
(from the ledger, dashed), each fault's window shaded, and the stretches in which the API did not
answer the sampler in grey; the sample is the step-by-step Temporal history of a payment that
compensated.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from chaos.runner import ScenarioResult

STATE_COLOURS = {
    "pending": "#9e9e9e",
    "processing": "#1e88e5",
    "succeeded": "#43a047",
    "failed": "#e53935",
    "cancelled": "#fb8c00",
}
FAULT_COLOURS = ["#ffe082", "#b39ddb", "#80cbc4", "#f48fb1", "#bcaaa4"]


def timeline_svg(result: ScenarioResult, width: int = 760, height: int = 260) -> str:
    """Payments by state over time (lines) with fault windows (shaded bands)."""
    left, right, top, bottom = 50, 130, 20, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    samples = result.samples or [{"t": 0.0}]
    t_max = max(
        [float(s["t"]) for s in samples] + [f.planned_until_s for f in result.faults] + [1.0]
    )
    total = max(len(result.payments), 1)

    def x(t: float) -> float:
        return left + plot_w * t / t_max

    def y(n: float) -> float:
        return top + plot_h * (1 - n / total)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="11">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
    ]
    for i, fault in enumerate(result.faults):
        start = fault.started_at_s if fault.started_at_s is not None else fault.planned_at_s
        end = fault.reverted_at_s if fault.reverted_at_s is not None else fault.planned_until_s
        colour = FAULT_COLOURS[i % len(FAULT_COLOURS)]
        parts.append(
            f'<rect x="{x(start):.1f}" y="{top}" width="{max(x(end) - x(start), 1):.1f}" '
            f'height="{plot_h}" fill="{colour}" opacity="0.35"/>'
        )
        parts.append(
            f'<text x="{x(start) + 2:.1f}" y="{top + 12 + 12 * i}">'
            f"{escape(fault.description)}</text>"
        )
    parts.append(
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" '
        'stroke="black"/>'
    )
    parts.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="black"/>')
    for tick in range(0, 6):
        t = t_max * tick / 5
        parts.append(
            f'<text x="{x(t):.1f}" y="{top + plot_h + 15}" text-anchor="middle">{t:.0f}s</text>'
        )
    parts.append(f'<text x="{left - 5}" y="{top + 4}" text-anchor="end">{total}</text>')
    parts.append(f'<text x="{left - 5}" y="{top + plot_h}" text-anchor="end">0</text>')
    for start_t, end_t in _gaps(samples, "api"):
        parts.append(
            f'<rect x="{x(start_t):.1f}" y="{top}" width="{max(x(end_t) - x(start_t), 1):.1f}" '
            f'height="{plot_h}" fill="#616161" opacity="0.25"/>'
            f'<text x="{x(start_t) + 2:.1f}" y="{top + plot_h - 4}">API not answering</text>'
        )
    for row, (state, colour) in enumerate(STATE_COLOURS.items()):
        for run in _runs(samples, "api"):
            points = " ".join(f"{x(s['t']):.1f},{y(s.get(state, 0)):.1f}" for s in run)
            parts.append(
                f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"/>'
            )
        parts.append(
            f'<rect x="{width - right + 10}" y="{top + 16 * row}" width="10" height="10" '
            f'fill="{colour}"/><text x="{width - right + 25}" y="{top + 9 + 16 * row}">'
            f"{state}</text>"
        )
    for run in _runs(samples, "ledger"):
        points = " ".join(
            f"{x(s['t']):.1f},{y(s['ledger'].get('debit', 0) - s['ledger'].get('refund', 0)):.1f}"
            for s in run
        )
        parts.append(
            f'<polyline points="{points}" fill="none" stroke="black" stroke-dasharray="4 3"/>'
        )
    row = len(STATE_COLOURS)
    parts.append(
        f'<line x1="{width - right + 10}" y1="{top + 5 + 16 * row}" x2="{width - right + 20}" '
        f'y2="{top + 5 + 16 * row}" stroke="black" stroke-dasharray="4 3"/>'
        f'<text x="{width - right + 25}" y="{top + 9 + 16 * row}">debited (ledger)</text>'
    )
    parts.append(
        f'<text x="{left + plot_w / 2}" y="{height - 5}" text-anchor="middle">'
        f"{escape(result.scenario.name)}: payments by state over time, faults shaded, gaps"
        " grey</text>"
    )
    parts.append("</svg>")
    return "\n".join(parts)


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


def write_report(results: list[ScenarioResult], directory: Path) -> Path:
    """Write ``report.md`` and one ``<scenario>.svg`` chart per scenario."""
    directory.mkdir(parents=True, exist_ok=True)
    lines = ["# Chaos run report", ""]
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
        chart = directory / f"{result.scenario.name}.svg"
        chart.write_text(timeline_svg(result))
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
