"""BENCHMARKS.md: the generated block of the last ``saga bench`` run, hand-written notes kept."""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from chaos.bench.runner import BenchResult
from chaos.percentiles import percentile
from runtime.tables import render_table

BEGIN = "<!-- saga bench: generated, do not edit by hand -->"
END = "<!-- saga bench: end -->"


def machine() -> str:
    """Cores, memory and CPU model of this machine."""
    cores = os.cpu_count() or 0
    pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cores} cores, {pages / 2**30:.1f} GiB, {model or platform.machine()}"


def _commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def render(result: BenchResult) -> str:
    """The generated Markdown block."""
    c, best = result.ceiling, result.best
    lines = [
        BEGIN,
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, commit `{_commit()}`, on {machine()}.",
        "",
        f"**Full-system throughput / ceiling: {best.achieved:.1f} / {c.throughput:.1f} "
        f"payments/s = {result.ratio:.2f}** (best k6 step: {best.rate:g}/s offered; "
        f"stopped because {result.stop_reason}).",
        "",
        "| | ceiling (no-op activities, client) | full system (k6 through the API) |",
        "|---|---|---|",
        f"| payments/s | {c.throughput:.1f} ({c.payments} sagas, {c.concurrency} in flight) "
        f"| {best.achieved:.1f} ({best.succeeded} succeeded in {best.duration_s:g} s) |",
        *(
            f"| saga p{p} | {percentile(c.latencies_s, p):.2f} s | {best.saga(p):.2f} s |"
            for p in (50, 95, 99)
        ),
        f"| API POST /payments p50 / p95 / p99 | - | {best.api_p50_ms:.0f} / "
        f"{best.api_p95_ms:.0f} / {best.api_p99_ms:.0f} ms |",
        f"| history events per payment (with the fraud child) | {result.ceiling_cost.events} "
        f"| {result.cost.events} |",
        f"| workflow tasks per payment | {result.ceiling_cost.workflow_tasks} "
        f"| {result.cost.workflow_tasks} |",
        f"| Temporal actions per payment (estimate) | {result.ceiling_cost.actions} "
        f"| {result.cost.actions} |",
        "",
        "k6 steps (constant arrival rate, successful payments only; saga latency from Temporal's "
        "start and close times):",
        "",
        "```",
        render_table(
            [
                [
                    "offered/s",
                    "created",
                    "dropped",
                    "succeeded/s",
                    "saga p50",
                    "saga p99",
                    "API p95",
                ],
                *(
                    [
                        f"{s.rate:g}",
                        str(s.created),
                        str(s.dropped),
                        f"{s.achieved:.1f}",
                        f"{s.saga(50):.2f} s",
                        f"{s.saga(99):.2f} s",
                        f"{s.api_p95_ms:.0f} ms",
                    ]
                    for s in result.steps
                ),
            ]
        ),
        "```",
        "",
        f"CPU share by process during the best step ({sum(best.cpu_s.values()):.0f} CPU-seconds "
        f"in {best.duration_s:g} s of load plus drain):",
        "",
        "```",
        _cpu_table(best.cpu_s),
        "```",
        "",
        "CPU share during the ceiling run:",
        "",
        "```",
        _cpu_table(result.ceiling_cpu_s),
        "```",
        END,
    ]
    return "\n".join(lines)


def _cpu_table(cpu_s: dict[str, float]) -> str:
    total = sum(cpu_s.values()) or 1.0
    rows = [["process", "CPU s", "share"]]
    rows += [
        [name, f"{seconds:.1f}", f"{seconds / total:.0%}"]
        for name, seconds in sorted(cpu_s.items(), key=lambda kv: -kv[1])
        if seconds >= 0.05
    ]
    return render_table(rows)


def write(result: BenchResult, path: Path) -> Path:
    """Replace the generated block of ``path`` (created with a heading if missing)."""
    block = render(result)
    text = path.read_text() if path.exists() else "# Benchmarks\n\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        text = head + block + tail
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text)
    return path
