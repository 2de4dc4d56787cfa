"""BENCHMARKS.md: the generated block of the last ``saga bench`` run, hand-written notes kept."""

from __future__ import annotations

import json
import os
import platform
import re
import statistics
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from chaos.perf.bench.runner import BenchResult
from chaos.perf.percentiles import percentile
from runtime.tables import render_table

BEGIN = "<!-- saga bench: generated, do not edit by hand -->"
END = "<!-- saga bench: end -->"
SIDE_BEGIN = "<!-- saga bench side by side: generated, do not edit by hand -->"
SIDE_END = "<!-- saga bench side by side: end -->"
#: Each block carries its headline figures, machine-readable, for the side-by-side table.
FIGURES = re.compile(r"<!-- figures (\{.*?\}) -->")


def markers(backend: str) -> tuple[str, str]:
    """The markers around one backend's generated block (the dev backend's are the original
    ones, so files written before the cluster backend existed keep working)."""
    if backend == "dev":
        return BEGIN, END
    return (
        f"<!-- saga bench {backend}: generated, do not edit by hand -->",
        f"<!-- saga bench {backend}: end -->",
    )


def figures(result: BenchResult) -> dict[str, object]:
    """The headline figures of a run."""
    best = result.best
    return {
        "backend": result.backend,
        "commit": _commit(),
        "date": f"{datetime.now(UTC):%Y-%m-%d %H:%M}",
        "ceiling": round(result.ceiling.throughput, 1),
        "throughput": round(best.achieved, 1),
        "ratio": round(result.ratio, 2),
        "best_rate": best.rate,
        "p99_s": round(best.saga(99), 2),
        "server_cpu_ms": round(result.server_cpu_ms_per_payment, 1),
        "cpu_ms": round(sum(result.cpu_ms_per_payment.values()), 1),
        "cpu_ms_half_knee": round(sum(result.half_knee.cpu_ms_per_payment.values()), 1),
        "ceiling_cpu_ms": round(result.ceiling_cpu_ms_per_saga, 1),
        "marginal_cpu_ms": round(result.marginal_cpu[0], 1) if result.marginal_cpu else "-",
        "events": result.cost.events,
        "workflow_tasks": result.cost.workflow_tasks,
        "half_knee_rate": result.half_knee.rate,
        "p99_half_knee_s": round(result.half_knee.saga(99), 2),
        "ceiling_after": round(result.ceiling_after.throughput, 1) if result.ceiling_after else "-",
    }


class _Figures(dict[str, object]):
    """A run's figures where a run recorded before a figure existed shows ``-``."""

    def __missing__(self, key: str) -> str:
        return "-"


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


#: The figures a repeated bench reports the median and the spread of.
REPEATED = (
    "ceiling",
    "ceiling_after",
    "throughput",
    "ratio",
    "best_rate",
    "p99_s",
    "p99_half_knee_s",
    "cpu_ms",
    "cpu_ms_half_knee",
    "marginal_cpu_ms",
    "ceiling_cpu_ms",
    "server_cpu_ms",
    "events",
    "workflow_tasks",
)


def median_run(results: list[BenchResult]) -> BenchResult:
    """The run whose throughput / ceiling ratio is the median (the lower of the two middle)."""
    ranked = sorted(results, key=lambda r: r.ratio)
    return ranked[(len(ranked) - 1) // 2]


def repeat_table(results: list[BenchResult]) -> str:
    """Median, range and spread ((max - min) / median) of each headline figure over runs."""
    runs = [figures(r) for r in results]
    rows = [["figure", "median", "min", "max", "spread"]]
    for name in REPEATED:
        values = sorted(float(v) for r in runs if isinstance(v := r.get(name), int | float))
        if not values:
            continue
        middle = statistics.median(values)
        spread = (values[-1] - values[0]) / middle if middle else 0.0
        rows.append([name, f"{middle:g}", f"{values[0]:g}", f"{values[-1]:g}", f"{spread:.0%}"])
    return render_table(rows)


def render(result: BenchResult, repeats: list[BenchResult] | None = None) -> str:
    """The generated Markdown block (with ``repeats``: the median run's, and the table of every
    figure over all of them)."""
    c, best = result.ceiling, result.best
    begin, end = markers(result.backend)
    knee_cpu = sum(result.cpu_ms_per_payment.values())
    half_cpu = sum(result.half_knee.cpu_ms_per_payment.values())
    ceiling_cpu = result.ceiling_cpu_ms_per_saga or 1.0
    marginal = result.marginal_cpu
    lines = [
        begin,
        f"<!-- figures {json.dumps(figures(result) | _repeat(repeats), sort_keys=True)} -->",
        f"Backend **{result.backend}**. Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, commit"
        f" `{_commit()}`, on {machine()}.",
        "",
        f"**Full-system throughput / ceiling: {best.achieved:.1f} / {c.throughput:.1f} "
        f"payments/s = {result.ratio:.2f}** (best k6 step: {best.rate:g}/s offered; "
        f"stopped because {result.stop_reason}).",
        *(
            [
                "",
                f"The ceiling measured again after the climb: {result.ceiling_after.throughput:.1f}"
                f" payments/s ({result.ceiling_after.throughput / c.throughput - 1:+.0%} on the"
                " one before it; the ratio above is against the one before).",
            ]
            if result.ceiling_after
            else []
        ),
        "",
        f"Knee: **{best.rate:g}/s** (the best step holding saga p99 under"
        f" {result.p99_bound_s:g} s). Saga p99 at half the knee ({result.half_knee.rate:g}/s):"
        f" **{result.half_knee.saga(99):.2f} s**. Per payment:"
        f" **{result.cost.events}** history events, **{result.cost.workflow_tasks}** workflow"
        " tasks.",
        "",
        f"CPU per payment, every process of the system under test: **{knee_cpu:.0f} ms** at the"
        f" knee (the machine saturated), **{half_cpu:.0f} ms** at half the knee; the no-op"
        f" ceiling's saga cost **{ceiling_cpu:.0f} ms** in the same run (Temporal and its"
        f" workers only), so the full system costs **{knee_cpu / ceiling_cpu:.2f}** no-op sagas"
        " per payment."
        + (
            f" Fitted across the steps that held, one more payment costs **{marginal[0]:.0f} ms**"
            f" and every step pays {marginal[1]:.1f} CPU-seconds of background whatever its rate"
            " (pollers, timers, scrapes), which is why slow steps show more per payment."
            if marginal
            else ""
        ),
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
        f"start and close times; {_k6_client(result.k6_wait_s)}):",
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
                    "CPU / payment",
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
                        f"{sum(s.cpu_ms_per_payment.values()):.0f} ms",
                    ]
                    for s in sorted(result.steps, key=lambda s: s.rate)
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
        "CPU milliseconds per succeeded payment of that step, by process of the system under test"
        f" ({sum(result.cpu_ms_per_payment.values()):.0f} ms in all; the Temporal server"
        f" {result.server_cpu_ms_per_payment:.0f} ms):",
        "",
        "```",
        render_table(
            [
                ["process", "CPU ms / payment"],
                *(
                    [name, f"{ms:.1f}"]
                    for name, ms in sorted(result.cpu_ms_per_payment.items(), key=lambda kv: -kv[1])
                    if ms >= 0.05
                ),
            ]
        ),
        "```",
        "",
        f"CPU share during the ceiling run ({c.payments + c.warmup} no-op sagas, the"
        f" {c.warmup} warm-up ones included; {result.ceiling_cpu_ms_per_saga:.0f} ms each):",
        "",
        "```",
        _cpu_table(result.ceiling_cpu_s),
        "```",
        *(
            [
                "",
                f"Over {len(repeats)} runs (`saga bench --repeat {len(repeats)}`), each on a fresh"
                " stack, one after another, each with its ceiling measured before and after its"
                " climb; the block above is the run with the median ratio:",
                "",
                "```",
                repeat_table(repeats),
                "```",
            ]
            if repeats and len(repeats) > 1
            else []
        ),
        end,
    ]
    return "\n".join(lines)


def side_by_side(text: str) -> str:
    """The table comparing the backends' last runs, from the figures in ``text``."""
    runs = {str(f["backend"]): f for f in (json.loads(m) for m in FIGURES.findall(text))}
    order = sorted(runs, key=lambda b: (b != "dev", b))
    rows: list[tuple[str, str]] = [
        ("run", "{date}, `{commit}`"),
        ("ceiling (no-op saga), payments/s", "{ceiling}"),
        ("full system, payments/s (best step)", "{throughput} ({best_rate}/s)"),
        ("full system / ceiling", "{ratio}"),
        ("saga p99 at the best step", "{p99_s} s"),
        ("saga p99 at half the knee", "{p99_half_knee_s} s ({half_knee_rate}/s)"),
        ("Temporal server CPU per payment", "{server_cpu_ms} ms"),
        ("all processes' CPU per payment", "{cpu_ms} ms"),
        ("all processes' CPU per payment at half the knee", "{cpu_ms_half_knee} ms"),
        ("CPU per additional payment (fitted across the steps)", "{marginal_cpu_ms} ms"),
        ("no-op ceiling's CPU per saga", "{ceiling_cpu_ms} ms"),
        ("history events per payment", "{events}"),
        ("workflow tasks per payment", "{workflow_tasks}"),
    ]
    lines = [
        SIDE_BEGIN,
        "| | " + " | ".join(order) + " |",
        "|---|" + "---|" * len(order),
        *(
            f"| {name} | " + " | ".join(cell.format_map(_Figures(runs[b])) for b in order) + " |"
            for name, cell in rows
        ),
        SIDE_END,
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


def _replace(text: str, begin: str, end: str, block: str, before: str | None = None) -> str:
    """``block`` in place of the one between ``begin`` and ``end``; when there is none, before
    the marker ``before`` (if present) or at the end."""
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        return head + block + rest.split(end, 1)[1]
    if before is not None and before in text:
        head, tail = text.split(before, 1)
        return head + block + "\n\n" + before + tail
    return text.rstrip("\n") + "\n\n" + block + "\n"


def replace_block(path: Path, name: str, body: str) -> None:
    """Put ``body`` between ``name``'s generated markers in ``path`` (at the end, the first
    time), leaving everything else as it is."""
    begin = f"<!-- {name}: generated, do not edit by hand -->"
    end = f"<!-- {name}: end -->"
    text = path.read_text() if path.exists() else "# Benchmarks\n\n"
    path.write_text(_replace(text, begin, end, f"{begin}\n{body}\n{end}"))


def _repeat(repeats: list[BenchResult] | None) -> dict[str, object]:
    return {"repeat": len(repeats)} if repeats and len(repeats) > 1 else {}


def write(result: BenchResult, path: Path, repeats: list[BenchResult] | None = None) -> Path:
    """Replace this backend's generated block of ``path`` (created with a heading if missing),
    then the side-by-side table of every backend's last run."""
    text = path.read_text() if path.exists() else "# Benchmarks\n\n"
    begin, end = markers(result.backend)
    text = _replace(text, begin, end, render(result, repeats))
    first_block = BEGIN if BEGIN in text else begin
    text = _replace(text, SIDE_BEGIN, SIDE_END, side_by_side(text), before=first_block)
    path.write_text(text)
    return path


def _k6_client(wait_s: int) -> str:
    """How k6 learned that each saga ended."""
    if wait_s:
        return f"k6 waited for each with GET /payments/{{id}}?wait={wait_s}"
    return "k6 polled GET /payments/{id}/state, then read each in full"
