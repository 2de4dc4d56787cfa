"""``saga check JOURNAL`` (run the checkers again, offline, on the bundles a journal holds) and
``saga report JOURNAL`` (draw the HTML report from a journal)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import msgspec

from chaos.errors import ScenarioError
from chaos.scenario.errors import located
from chaos.verdicts.bundle import Bundle, decode_bundle
from chaos.verdicts.checkers import check_all, payment_rows
from chaos.verdicts.html import write_html
from runtime.tables import render_table


def read_journal(path: Path) -> Any:
    """A journal's JSON; one-line errors for a missing file or one that is not JSON."""
    try:
        return msgspec.json.decode(path.read_bytes())
    except FileNotFoundError:
        raise ScenarioError(f"{path}: no such file") from None
    except msgspec.DecodeError as exc:
        raise ScenarioError(f"{path}: not JSON: {exc}") from None


def load_bundles(path: Path) -> list[tuple[str, Any]]:
    """(scenario name, raw bundle) for every scenario of a journal that has a bundle."""
    document = read_journal(path)
    scenarios = document.get("scenarios") if isinstance(document, dict) else None
    if not isinstance(scenarios, list):
        raise ScenarioError(f"{path}: scenarios: expected the list a journal holds")
    found = [
        (str(s.get("scenario", f"#{i}")), s["bundle"])
        for i, s in enumerate(scenarios)
        if isinstance(s, dict) and s.get("bundle") is not None
    ]
    if not found:
        raise ScenarioError(f"{path}: no scenario has a bundle (a run that ended in an error?)")
    return found


def cmd_check(args: argparse.Namespace) -> int:
    """Print every check of every bundle; exit 1 if any is invalid."""
    path = Path(args.journal)
    failed = 0
    for index, (name, raw) in enumerate(load_bundles(path)):
        try:
            bundle = decode_bundle(raw)
        except msgspec.ValidationError as exc:
            where = f"$.scenarios[{index}].bundle"
            raise ScenarioError(located(str(path), Bundle, raw, exc, where)) from None
        checks = check_all(bundle)
        failed += sum(not c.valid for c in checks)
        print(f"== {name}: {len(bundle.payments)} payments")
        rows = [["check", "result", "detail"]]
        rows += [[c.name, "valid" if c.valid else "INVALID", c.summary()] for c in checks]
        print(render_table(rows))
        if args.table:
            table = [["payment", "state", "debits", "refunds", "charge", "notified", "reported"]]
            table += [
                [
                    r.payment_id,
                    r.state + (f" ({r.reason})" if r.reason else ""),
                    ",".join(map(str, r.debits)) or "-",
                    ",".join(map(str, r.refunds)) or "-",
                    r.charge,
                    ",".join(r.notifications) or "-",
                    ",".join(r.reported) or "-",
                ]
                for r in payment_rows(bundle)
            ]
            print(render_table(table))
        for check in checks:
            for example in check.counterexamples:
                print(f"  {check.name}: {example}")
    print("check: " + ("INVALID" if failed else "valid"))
    return 1 if failed else 0


def add_check_command(sub: Any) -> None:
    """Register ``saga check`` on the ``saga`` parser."""
    check = sub.add_parser("check", help="re-run the checkers on a journal's evidence bundles")
    check.add_argument("journal", help="journal.json written by `saga scenario run --report`")
    check.add_argument("--table", action="store_true", help="print the per-payment table")
    check.set_defaults(func=cmd_check)


def cmd_report(args: argparse.Namespace) -> int:
    """Write ``index.html`` for a journal (beside it, or into ``--out``)."""
    path = Path(args.journal)
    journal = read_journal(path)
    if not isinstance(journal, dict) or not isinstance(journal.get("scenarios"), list):
        raise ScenarioError(f"{path}: scenarios: not a journal (no list of scenarios)")
    out = Path(args.out) if args.out else path.parent
    print(f"report: {write_html(journal, out)}")
    return 0


def add_report_command(sub: Any) -> None:
    """Register ``saga report`` on the ``saga`` parser."""
    report = sub.add_parser("report", help="draw the HTML report (index.html) of a journal")
    report.add_argument("journal", help="journal.json written by `saga scenario run --report`")
    report.add_argument("--out", metavar="DIR", help="where to write index.html (default: beside)")
    report.set_defaults(func=cmd_report)
