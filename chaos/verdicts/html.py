"""The HTML report, ``<dir>/index.html``: a run as a person looks at it, from its journal alone.

Self-contained (no script, no CDN: it opens from disk) and written from ``journal.json``, so
``saga report JOURNAL`` draws it offline as ``saga scenario run --report DIR`` does. It shows:

- a summary first: run metadata, every scenario with its verdict (failures first), and each
  failure's counterexamples (the checker or reference-model rule, the payment, what was found);
- for a load run (``saga load --report DIR``): k6's figures, and the k6 dashboard's panels
  (latency percentiles, request rates) beside the saga's;
- per scenario: the payments by state over time, the **same panels as the Grafana dashboards**
  (their PromQL evaluated over the scenario's window, :mod:`chaos.verdicts.panels`), each with the
  fault windows shaded and labelled, and a visible warning where a panel that must have data has
  none; the verdicts with their evidence; the faults and their measured effects; and one row per
  payment, which opens to its timeline, its ledger entries and the provider's charge.

Each chart is an SVG drawn by matplotlib, inlined as a data URI (``<img>``), with the number of
points it drew in ``data-points`` (what the browser test reads).
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import Any

from chaos.verdicts.report import FAULT_COLOURS, STATE_COLOURS

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1180px; color: #212121 }
h1, h2, h3 { font-weight: 600 } h2 { border-top: 2px solid #e0e0e0; padding-top: 1em }
table { border-collapse: collapse; margin: .5em 0 1em } td, th { padding: 3px 8px;
  border-bottom: 1px solid #eee; text-align: left; vertical-align: top }
.pass { color: #2e7d32; font-weight: 600 } .fail { color: #c62828; font-weight: 600 }
.panels { display: grid; grid-template-columns: 1fr 1fr; gap: 12px }
.panel { border: 1px solid #e0e0e0; padding: 6px; margin: 0 } .panel img { width: 100% }
figcaption { font-size: 11px; color: #616161 } .fault { border-left: 10px solid; padding: 0 6px }
.warning { background: #fff3e0; border-left: 4px solid #ef6c00; padding: 6px 10px }
.counterexample { background: #ffebee; border-left: 4px solid #c62828; padding: 6px 10px;
  margin: 4px 0 } code { font-size: 12px } details > summary { cursor: pointer }
"""


def write_html(journal: dict[str, Any], directory: Path) -> Path:
    """Write ``index.html`` for a journal's run into ``directory``; returns its path."""
    directory.mkdir(parents=True, exist_ok=True)
    scenarios = journal.get("scenarios", [])
    ordered = sorted(scenarios, key=lambda s: bool(s.get("passed")))
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<title>Chaos run report</title>",
        f"<style>{STYLE}</style></head><body>",
        "<h1>Chaos run report</h1>",
        _summary(journal, ordered),
        *(_failures(s) for s in ordered if not s.get("passed")),
        *(_scenario(s) for s in scenarios),
        "</body></html>",
    ]
    path = directory / "index.html"
    path.write_text("\n".join(parts))
    return path


def write_html_from(journal_path: Path, directory: Path | None = None) -> Path:
    """``index.html`` beside (or into ``directory`` for) a ``journal.json``."""
    journal = json.loads(journal_path.read_text())
    return write_html(journal, directory or journal_path.parent)


def _e(value: object) -> str:
    return html.escape(str(value))


def _verdict(passed: object) -> str:
    return "<span class='pass'>PASS</span>" if passed else "<span class='fail'>FAIL</span>"


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _summary(journal: dict[str, Any], ordered: list[dict[str, Any]]) -> str:
    run = journal.get("run") or {}
    held = sum(bool(s.get("passed")) for s in ordered)
    rows = [
        [
            f"<a href='#{_e(s['scenario'])}'>{_e(s['scenario'])}</a>",
            _verdict(s.get("passed")),
            str(len(s.get("payments", []))),
            f"{float(s.get('duration_s') or 0):.1f}s",
            _e(", ".join(v["name"] for v in s.get("verdicts", []) if not v["passed"])),
        ]
        for s in ordered
    ]
    return (
        f"<p id='verdict'>{held} of {len(ordered)} scenarios held,"
        f" {len(ordered) - held} failed.</p>"
        + _table(["scenario", "result", "payments", "duration", "failed verdicts"], rows)
        + "<details><summary>Run metadata</summary>"
        + _table(["", ""], [[_e(k), f"<code>{_e(v)}</code>"] for k, v in run.items()])
        + "</details>"
    )


def _counterexamples(scenario: dict[str, Any]) -> list[str]:
    found = []
    for check in scenario.get("checks", []):
        for c in check.get("counterexamples", []):
            found.append(
                f"<div class='counterexample'><b>{_e(check['name'])}</b>: {_e(c['subject'])}:"
                f" expected {_e(c['expected'])}, found {_e(c['found'])}</div>"
            )
    return found


def _failures(scenario: dict[str, Any]) -> str:
    name = scenario["scenario"]
    failed = [v for v in scenario.get("verdicts", []) if not v["passed"]]
    items = "".join(
        f"<li>{_e(v['name'])}: expected {_e(v['expected'])}, observed {_e(v['observed'])}</li>"
        for v in failed
    )
    error = (
        f"<p class='fail'>Run error: {_e(scenario['error'])}</p>" if scenario.get("error") else ""
    )
    return (
        f"<section class='failure'><h3>Failed: <a href='#{_e(name)}'>{_e(name)}</a></h3>"
        f"{error}<ul>{items}</ul>{''.join(_counterexamples(scenario))}</section>"
    )


def _scenario(scenario: dict[str, Any]) -> str:
    name = scenario["scenario"]
    faults = scenario.get("faults", [])
    parts = [
        f"<section class='scenario' data-scenario='{_e(name)}'>",
        f"<h2 id='{_e(name)}'>{_e(name)}: {_verdict(scenario.get('passed'))}</h2>",
        f"<p>{_e(str(scenario.get('description', '')).strip())}</p>",
        _figures(scenario.get("summary")),
        "<div class='panels'>",
        _timeline_panel(scenario, faults),
        *(_panel(p, faults) for p in scenario.get("panels", [])),
        "</div>",
    ]
    if not scenario.get("panels"):
        parts.append(
            "<p class='warning'>No dashboard panels: the run had no Prometheus, or no report"
            " was asked for while it ran.</p>"
        )
    parts.append("<h3>Verdicts</h3>")
    parts.append(
        _table(
            ["expectation", "expected", "observed", "result"],
            [
                [_e(v["name"]), _e(v["expected"]), _e(v["observed"]), _verdict(v["passed"])]
                for v in scenario.get("verdicts", [])
            ],
        )
    )
    parts += _counterexamples(scenario)
    if faults:
        parts.append("<h3>Faults</h3>")
        parts.append(
            _table(
                ["fault", "planned", "applied", "reverted", "effect", "error"],
                [
                    [
                        _e(f["description"]),
                        f"{f['planned_at_s']:g}-{f['planned_until_s']:g}s",
                        _seconds(f.get("applied_at_s")),
                        _seconds(f.get("reverted_at_s")),
                        _e(f.get("effect") or ""),
                        _e(f.get("error") or ""),
                    ]
                    for f in faults
                ],
            )
        )
    parts.append("<h3>Payments</h3>")
    parts.append(_payments(scenario))
    parts.append("</section>")
    return "\n".join(parts)


def _seconds(value: object) -> str:
    return f"{float(value):.1f}s" if isinstance(value, int | float) else "-"


def _payments(scenario: dict[str, Any]) -> str:
    bundle = scenario.get("bundle") or {}
    apis = {p["payment_id"]: p.get("api", {}) for p in bundle.get("payments", [])}
    rows = []
    for p in scenario.get("payments", []):
        pid = p.get("payment_id") or "(never created)"
        api = apis.get(pid, {})
        timeline = _table(
            ["at", "event", "detail"],
            [
                [_e(e.get("at", "")), _e(e.get("event", "")), _e(e.get("detail", ""))]
                for e in api.get("timeline", [])
            ],
        )
        entries = _table(
            ["kind", "amount", "at"],
            [
                [_e(e["kind"]), _e(e["amount"]), _e(e["created_at"])]
                for e in bundle.get("entries", [])
                if e["payment_id"] == pid
            ],
        )
        charges = _table(
            ["charge", "status", "outcome", "amount"],
            [
                [_e(c.get("charge_id")), _e(c.get("status")), _e(c.get("outcome")), _e(c["amount"])]
                for c in bundle.get("charges", [])
                if c.get("payment_id") == pid
            ],
        )
        summary = " · ".join(
            _e(x)
            for x in (
                pid,
                p.get("state"),
                p.get("reason") or "",
                f"{p.get('provider_attempts') or 0} attempt(s)",
                ", ".join(p.get("compensations") or []) or "no compensation",
                p.get("notification") or "no notice",
            )
        )
        rows.append(
            f"<details class='payment'><summary>{summary}</summary>"
            f"<h4>Timeline</h4>{timeline}<h4>Ledger</h4>{entries}"
            f"<h4>Provider</h4>{charges}</details>"
        )
    return "\n".join(rows) or "<p>No payments.</p>"


def _figures(rows: list[list[str]] | None) -> str:
    """A load run's figures (k6's percentiles and rates, the saga's durations), as printed."""
    if not rows:
        return ""
    return _table([str(c) for c in rows[0]], [[_e(c) for c in row] for row in rows[1:]])


def _timeline_panel(scenario: dict[str, Any], faults: list[dict[str, Any]]) -> str:
    if not scenario.get("samples"):
        return ""  # a load run has no sampler: its panels are the dashboards'
    samples = [s for s in scenario.get("samples", []) if s.get("api") is not False]
    series = [
        {"legend": state, "points": [[s["t"], s.get(state, 0)] for s in samples]}
        for state in STATE_COLOURS
    ]
    return _figure("Payments by state (the harness's sampler)", "short", series, faults, [])


def _panel(panel: dict[str, Any], faults: list[dict[str, Any]]) -> str:
    notes = []
    if panel.get("error"):
        notes.append(f"query failed: {panel['error']}")
    series = panel.get("series", [])
    if panel.get("needs_data") and not series:
        notes.append("this panel must have data in a run like this one, and has none")
    elif series and not any(s["points"] for s in series):
        notes.append(
            "its series have no value in this window (a counter that never grew after it"
            " appeared has no rate)"
        )
    title = f"{panel['dashboard']}: {panel['title']}"
    return _figure(title, panel.get("unit", "short"), panel.get("series", []), faults, notes)


def _figure(
    title: str,
    unit: str,
    series: list[dict[str, Any]],
    faults: list[dict[str, Any]],
    notes: list[str],
) -> str:
    points = sum(len(s["points"]) for s in series)
    warnings = "".join(f"<p class='warning'>{_e(n)}</p>" for n in notes)
    if not points and not notes:
        warnings = "<p class='warning'>no data in this window</p>"
    image = base64.b64encode(_svg(title, unit, series, faults).encode()).decode()
    return (
        f"<figure class='panel' data-title='{_e(title)}' data-points='{points}'>{warnings}"
        f"<img alt='{_e(title)}' src='data:image/svg+xml;base64,{image}'>"
        f"{_shaded(faults)}</figure>"
    )


def _shaded(faults: list[dict[str, Any]]) -> str:
    """The caption naming each shaded fault window, in the colour it is drawn in."""
    if not faults:
        return ""
    items = []
    for i, fault in enumerate(faults):
        start, end = _window(fault)
        items.append(
            f"<span class='fault' style='border-color:{FAULT_COLOURS[i % 5]}'>"
            f"{_e(fault['description'])} ({start:.1f}-{end:.1f}s)</span>"
        )
    return f"<figcaption>shaded: {' '.join(items)}</figcaption>"


def _window(fault: dict[str, Any]) -> tuple[float, float]:
    """When a fault was on: as applied and reverted, else as planned."""
    start = fault.get("started_at_s")
    start = fault["planned_at_s"] if start is None else start
    end = fault.get("reverted_at_s")
    end = fault["planned_until_s"] if end is None else end
    return float(start), max(float(end), float(start) + 0.2)


def _svg(title: str, unit: str, series: list[dict[str, Any]], faults: list[dict[str, Any]]) -> str:
    from matplotlib.figure import Figure  # the object API: no pyplot global state

    fig = Figure(figsize=(5.6, 2.6))
    ax = fig.add_subplot()
    for i, fault in enumerate(faults):
        start, end = _window(fault)
        ax.axvspan(start, end, color=FAULT_COLOURS[i % 5], alpha=0.35)
        ax.annotate(
            fault["description"][:48],
            (start, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(2, -10 - 9 * i),
            textcoords="offset points",
            fontsize=6,
        )
    # Series exported at 0 that never moved are one flat line, not a dozen legend entries.
    moved = [s for s in series if any(v for _, v in s["points"])]
    flat = [s for s in series if s["points"] and s not in moved]
    if flat:
        ts = sorted({t for s in flat for t, _ in s["points"]})
        ax.plot(ts, [0] * len(ts), linewidth=1.0, color="#9e9e9e", label=f"{len(flat)} at 0")
    for s in moved[:12]:  # a legend past a dozen lines says nothing
        times, values = zip(*s["points"], strict=True)
        ax.plot(times, values, linewidth=1.4, label=str(s["legend"])[:40])
    ax.set_title(title[:90], fontsize=8)
    ax.set_xlabel("seconds since the workload started", fontsize=7)
    ax.set_ylabel(unit, fontsize=7)
    ax.tick_params(labelsize=6)
    ax.grid(alpha=0.3)
    if any(s["points"] for s in series):
        ax.legend(fontsize=6, frameon=False)
    fig.tight_layout()
    out = io.StringIO()
    fig.savefig(out, format="svg")
    return out.getvalue()
