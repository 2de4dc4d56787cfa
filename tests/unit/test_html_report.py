"""The HTML report, opened in a real browser (Debian's headless chromium, driven by Playwright):
no console error, every panel an image that drew, the failing scenario's counterexample on the
page, and a screenshot kept in ``out/`` for CI."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chaos.verdicts.html import write_html
from tests.browser import opened

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "out" / "report-screenshot.png"


def _scenario(name: str, passed: bool) -> dict[str, Any]:
    """One scenario as the journal holds it, with a fault, samples, a panel with data, a panel
    that must have data and has none, and (failing) a checker's counterexample."""
    checks = [
        {
            "name": "money conserved",
            "valid": passed,
            "checked": 1,
            "counterexamples": []
            if passed
            else [
                {
                    "subject": "pay_broken",
                    "expected": "opening 1000",
                    "found": "balances 950 + held 0 = 950",
                }
            ],
        }
    ]
    return {
        "scenario": name,
        "description": f"{name}, drawn by the test.",
        "passed": passed,
        "duration_s": 4.2,
        "error": None,
        "faults": [
            {
                "index": 0,
                "kind": "toxic",
                "description": "latency on provider (downstream, latency=800)",
                "planned_at_s": 1.0,
                "planned_until_s": 3.0,
                "started_at_s": 1.0,
                "applied_at_s": 1.05,
                "reverted_at_s": 3.0,
                "effect": "1200 bytes through provider while the toxic was on",
                "error": None,
            }
        ],
        "payments": [
            {
                "payment_id": "pay_broken",
                "state": "failed",
                "reason": "provider_declined",
                "compensations": ["refund"],
                "provider_attempts": 1,
                "notification": "sent:n1",
            }
        ],
        "samples": [
            {"t": t / 2, "api": True, "succeeded": t // 2, "processing": 1} for t in range(10)
        ],
        "checks": checks,
        "verdicts": [
            {
                "name": "money conserved",
                "expected": "holds",
                "observed": "1 problem",
                "passed": passed,
            }
        ],
        "bundle": {
            "entries": [
                {
                    "payment_id": "pay_broken",
                    "user_id": "u",
                    "kind": "debit",
                    "amount": 50,
                    "created_at": "2026-12-07T10:00:00",
                }
            ],
            "charges": [{"payment_id": "pay_broken", "amount": 50, "status": "declined"}],
            "payments": [
                {
                    "payment_id": "pay_broken",
                    "api": {"timeline": [{"at": "t0", "event": "started", "detail": ""}]},
                }
            ],
        },
        "panels": [
            {
                "dashboard": "Saga overview",
                "title": "Payments finished",
                "unit": "short",
                "needs_data": True,
                "series": [{"legend": "succeeded", "points": [[0, 0], [2, 3], [4, 6]]}],
                "error": None,
            },
            {
                "dashboard": "Retries and timers",
                "title": "Callback timer expirations",
                "unit": "short",
                "needs_data": True,
                "series": [],
                "error": None,
            },
        ],
    }


@pytest.fixture(scope="module")
def page_of_report(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, list[str]]]:
    journal = {
        "passed": False,
        "run": {"command": "saga scenario run …", "commit": "abc1234", "seed": 1},
        "scenarios": [_scenario("calm", True), _scenario("broken", False)],
    }
    path = write_html(journal, tmp_path_factory.mktemp("report"))
    with opened(path) as (page, errors):
        SCREENSHOT.parent.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOT), full_page=True)
        yield page, errors


def test_it_renders_without_a_console_error(page_of_report: Any) -> None:
    _, errors = page_of_report
    assert errors == []
    assert SCREENSHOT.stat().st_size > 10_000


def test_every_panel_is_an_image_that_drew(page_of_report: Any) -> None:
    page, _ = page_of_report
    widths = page.eval_on_selector_all(".panel img", "imgs => imgs.map(i => i.naturalWidth)")
    assert len(widths) == 6 and all(w > 0 for w in widths)  # 2 scenarios x (timeline + 2)
    points = page.eval_on_selector_all(".panel", "ps => ps.map(p => +p.dataset.points)")
    assert points.count(0) == 2  # the panel without data, once per scenario ...
    warnings = page.eval_on_selector_all(".panel .warning", "ws => ws.map(w => w.textContent)")
    assert sum("must have data" in w for w in warnings) == 2  # ... is a visible warning


def test_failures_come_first_with_their_counterexample(page_of_report: Any) -> None:
    page, _ = page_of_report
    text = page.inner_text("body")
    assert "1 of 2 scenarios held, 1 failed" in text
    assert text.index("Failed: broken") < text.index("calm: PASS")
    assert "pay_broken: expected opening 1000, found balances 950 + held 0 = 950" in text
