"""The journal: a run's full record as JSON, the harness's first-class result."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import msgspec

from chaos.run.runner import ScenarioResult


def journal_entry(result: ScenarioResult) -> dict[str, Any]:
    """One scenario's record: scenario, seed, fault timeline, payments, verdicts."""
    evidence = result.evidence
    return {
        "scenario": result.scenario.name,
        "description": result.scenario.description,
        "seed": result.scenario.seed,
        "run_id": result.run_id,
        "started_at": result.started_at,
        "duration_s": result.duration_s,
        "passed": result.passed,
        "error": result.error,
        "steady_state": result.steady_state,
        "steady_state_after": {
            "held": not result.steady_state_after,
            "problems": result.steady_state_after,
        },
        "settings": msgspec.to_builtins(result.scenario.settings),
        "faults": [asdict(f) for f in result.faults],
        "rollback": result.rollback,
        "payments": [
            {
                "payment_id": p.payment_id,
                "user": p.user,
                "amount": p.amount,
                "method": p.method,
                "created_at_s": p.created_at_s,
                "create_attempts": p.create_attempts,
                "create_error": p.create_error,
                "cancel_at": p.cancel_at,
                "cancel_sent": p.cancel_sent,
                "cancel_step": p.cancel_step,
                "cancel_missed": p.cancel_missed,
                "state": p.state,
                "reason": p.status.get("reason"),
                "compensations": p.status.get("compensations", []),
                "provider_attempts": p.status.get("provider_attempts"),
                "notification": p.status.get("notification"),
            }
            for p in result.payments
        ],
        "probes": [asdict(p) for p in evidence.probes] if evidence else [],
        "checks": [asdict(c) for c in evidence.checks] if evidence else [],
        "verdicts": [asdict(v) for v in result.verdicts],
        "samples": result.samples,
        "sample_payment": evidence.sample_payment if evidence else None,
        "sample_history": evidence.sample_history if evidence else [],
        "bundle": msgspec.to_builtins(evidence.bundle) if evidence else None,
        "window": list(result.window) if result.window else None,
        "panels": [asdict(p) for p in result.panels],
    }


def write_journal(
    results: list[ScenarioResult], directory: Path, run: dict[str, Any] | None = None
) -> Path:
    """Write ``journal.json`` for a whole run; ``run`` is its metadata
    (:func:`chaos.verdicts.run_metadata.run_metadata`)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "journal.json"
    document = {
        "passed": all(r.passed for r in results),
        "run": run or {},
        "scenarios": [journal_entry(r) for r in results],
    }
    path.write_bytes(msgspec.json.format(msgspec.json.encode(document)))
    return path
