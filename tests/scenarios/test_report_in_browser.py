"""The report of a real run, as a person opens it: ``saga scenario run flaky-provider worker-crash
--report DIR`` on its own stack, then ``DIR/index.html`` in headless chromium.

The retry panels have data, the worker-crash window is shaded and named on its panels, nothing
errs in the console, and ``saga report DIR/journal.json`` draws the same page offline. The
screenshot of the worker-crash panels is kept in ``out/`` (CI keeps it as an artifact; the one
in ``docs/img/`` is a copy).
"""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.binaries import require_binary
from tests.browser import browser, opened

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "out" / "report-worker-crash.png"
#: The panels the screenshot keeps: the sampler's states, retries, attempts and compensations.
SHOWN = (
    "Payments by state",
    "Saga retries and timers: Provider charge attempts per second",
    "Saga retries and timers: Retries per second",
    "Saga overview: Compensations per second",
)


def saga(log: Path, *argv: str, timeout_s: float = 420) -> int:
    """Run ``saga ARGV`` in its own session, output to ``log``; stopped (SIGTERM: it stops its
    stack) if it outlives ``timeout_s``."""
    with log.open("wb") as out:
        run = subprocess.Popen(
            [require_binary("saga"), *argv],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            return run.wait(timeout_s)
        except subprocess.TimeoutExpired:
            run.send_signal(signal.SIGTERM)
            try:
                run.wait(90)
            except subprocess.TimeoutExpired:
                run.kill()
                run.wait(10)
            pytest.fail(f"saga {' '.join(argv)} outlived {timeout_s}s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    for name in ("temporal", "prometheus", "chromium"):
        require_binary(name)
    out = tmp_path_factory.mktemp("report")
    log = out.parent / "scenario-run.log"
    code = saga(log, "scenario", "run", "flaky-provider", "worker-crash", "--report", str(out))
    assert code == 0, log.read_text()[-4000:]
    assert (out / "index.html").exists(), log.read_text()[-2000:]
    return out


def _panels(page: Any, scenario: str) -> list[dict[str, Any]]:
    return page.eval_on_selector_all(
        f"section[data-scenario='{scenario}'] .panel",
        """ps => ps.map(p => ({
            title: p.dataset.title, points: +p.dataset.points,
            width: p.querySelector('img').naturalWidth,
            warning: !!p.querySelector('.warning'),
            shaded: (p.querySelector('figcaption') || {}).textContent || ''}))""",
    )


def _panel(panels: list[dict[str, Any]], title: str) -> dict[str, Any]:
    found = [p for p in panels if title in p["title"]]
    assert len(found) == 1, (title, [p["title"] for p in panels])
    return found[0]


def test_the_real_run_report_draws_its_panels_and_shades_the_crash(report: Path) -> None:
    with opened(report / "index.html") as (page, errors):
        text = page.inner_text("body")
        assert "2 of 2 scenarios held" in text, text[:2000]
        for scenario in ("flaky-provider", "worker-crash"):
            panels = _panels(page, scenario)
            assert len(panels) > 20, (scenario, len(panels))
            assert all(p["width"] > 0 for p in panels), "a panel's image did not draw"
            # A panel has data, or says it has none: never a silent blank.
            assert all(p["points"] or p["warning"] for p in panels), panels
        flaky = _panels(page, "flaky-provider")
        assert _panel(flaky, "Retries per second")["points"] > 0
        assert _panel(flaky, "Provider charge attempts per second")["points"] > 0

        crash = _panels(page, "worker-crash")
        for title in SHOWN:
            shaded = _panel(crash, title)["shaded"]
            assert "kill worker-payments" in shaded and "kill worker-accounts" in shaded, shaded
        assert _panel(crash, "Retries per second")["points"] > 0  # the lost activities retried

        page.eval_on_selector_all(
            "section[data-scenario='worker-crash'] .panel",
            "(ps, shown) => ps.forEach(p => { if (!shown.some(t => p.dataset.title.includes(t)))"
            " p.style.display = 'none' })",
            list(SHOWN),
        )
        SCREENSHOT.parent.mkdir(exist_ok=True)
        page.locator("section[data-scenario='worker-crash'] .panels").screenshot(
            path=str(SCREENSHOT)
        )
        assert errors == []
    assert SCREENSHOT.stat().st_size > 20_000


def test_saga_report_draws_the_same_page_offline(report: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    code = saga(
        tmp_path / "report.log", "report", str(report / "journal.json"), "--out", str(again)
    )
    assert code == 0, (tmp_path / "report.log").read_text()
    with browser() as open_page:
        first, _ = open_page(report / "index.html")
        second, e = open_page(again / "index.html")
        assert first.inner_text("body") == second.inner_text("body")
        assert _panels(first, "worker-crash") == _panels(second, "worker-crash")
        assert e == []
