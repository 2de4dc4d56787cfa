"""The shipped alert rules are valid and watch metrics the code really exports."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml

from runtime.prometheus import ALERT_RULES
from tests.binaries import require_binary

ROOT = Path(__file__).resolve().parents[2]


def test_alert_rules_watch_metrics_the_code_defines() -> None:
    groups = yaml.safe_load(ALERT_RULES.read_text())["groups"]
    alerts = {r["alert"]: r["expr"] for g in groups for r in g["rules"]}
    assert {"PaymentNeedsRefundReview", "CompensationRetrying", "ReconcilerRepairing"} <= set(
        alerts
    )
    source = "".join(p.read_text() for p in (ROOT / "orchestrator").rglob("*.py"))
    for name, expr in alerts.items():
        for metric in re.findall(r"\b(saga_[a-z_]+?)(?:_total)?\b", expr):
            assert f'"{metric}"' in source, f"{name} watches {metric}, which nothing defines"


def test_promtool_accepts_the_rules() -> None:
    promtool = require_binary("promtool")
    result = subprocess.run(
        [promtool, "check", "rules", str(ALERT_RULES)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
