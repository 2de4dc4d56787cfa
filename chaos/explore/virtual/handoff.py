"""A virtual schedule as a scenario file, where the real stack has every fault it uses.

The real stack's faults are coarser than the virtual world's: simulator knobs hold for every
payment of a run, and an interrupt is aimed at a step a poller sees. So a schedule maps to a
scenario only when its payments agree on every simulator knob and each fault it keeps has a real
form; otherwise :func:`scenario_of` names what has none, and only the JSON schedule is written.

A hand-off reproduces the schedule's *conditions* on the real stack, not its exact interleaving
(real time has jitter the kernel does not): run it a few times (``saga scenario run FILE``).
"""

from __future__ import annotations

from typing import Any, get_args

from chaos.explore.virtual.schedule import PaymentPlan, Schedule
from chaos.nemesis.registry import KINDS
from chaos.nemesis.workflow import STEP_NAMES
from chaos.scenario.types import Step
from orchestrator.workflows.fraud import SCORING_TIMEOUT

#: Steps the workload's cancel signal can be aimed at (the others come after the decision).
SIGNAL_STEPS = frozenset(get_args(Step))
#: Faults of the virtual world the real stack has no form for.
NO_REAL_FORM = {
    "charge_lost": "a charge taken by the provider and lost before the saga hears of it",
    "refund_failures": "refunds failing a set number of times",
}
CALLBACK_KNOBS = {
    "missing": {"missing_callback_rate": 1.0},
    "duplicate": {"duplicate_callback_rate": 1.0},
    "foreign": {"foreign_callback_rate": 1.0},
}
#: A late callback: the timer is this short, the callback this much later.
LATE_TIMER_S = 5.0


def scenario_of(schedule: Schedule, name: str) -> tuple[dict[str, Any], list[str]]:
    """The scenario for ``schedule`` and what it could not express (empty: all of it)."""
    missing: list[str] = []
    plans = schedule.payments
    knobs = [_knobs(p, missing) for p in plans]
    if any(k != knobs[0] for k in knobs[1:]):
        missing.append("payments whose simulator knobs differ (the real ones hold for a run)")
    amounts = {p.amount for p in plans}
    methods = sorted({p.method for p in plans})
    workload: dict[str, Any] = {
        "payments": len(plans),
        "users": [{"name": "payer", "balance": schedule.balance}],
        "amount": plans[0].amount
        if len(amounts) == 1
        else {"min": min(amounts), "max": max(amounts)},
        "methods": methods,
    }
    span = max(p.start_s for p in plans)
    if len(plans) > 1 and span > 0:
        workload["rate_per_s"] = round((len(plans) - 1) / span, 3)
    if len(amounts) > 1:
        missing.append("different amounts per payment (the workload draws them)")
    cancels = _cancels(plans, missing)
    if cancels:
        workload["cancels"] = cancels
    faults = [fault for kind in KINDS for fault in kind.from_virtual(schedule, missing)]
    if schedule.provider_outage or schedule.notify_outage:
        missing.append("a provider or notification outage of minutes or hours (virtual time)")
    if schedule.reconcile_at_s:
        missing.append("reconciler passes at set times (the real one runs every minute)")
    settings: dict[str, Any] = {
        "velocity_max_payments": schedule.velocity_max_payments,
        "account_retry": {"maximum_attempts": schedule.account_attempts},
        "charge_retry": {"maximum_attempts": schedule.charge_attempts},
    }
    if any(p.callback == "late" for p in plans):
        settings["callback_timeout_s"] = LATE_TIMER_S
    if schedule.refused_channels:
        for k in knobs:
            k["notifications"]["refused_channels"] = list(schedule.refused_channels)
    scenario = {
        "name": name,
        "description": f"Handed off by `saga explore --virtual` from schedule {schedule.seed}.",
        "tags": ["explore", "virtual"],
        "seed": schedule.seed % 2**31,
        "workload": workload,
        "simulators": knobs[0] if knobs else {},
        "faults": faults,
        "settings": settings,
        "expect": {"deadline_s": 120 + (schedule.ledger_outage or (0, 0))[1]},
    }
    return scenario, sorted(set(missing))


def _knobs(plan: PaymentPlan, missing: list[str]) -> dict[str, dict[str, Any]]:
    latency_ms = int(plan.latency_s * 1000)
    provider: dict[str, Any] = {"latency_ms": latency_ms, "callback_delay_ms": 2 * latency_ms}
    if plan.decline:
        provider["decline_rate"] = 1.0
    elif plan.callback_status == "declined":
        provider |= {"decline_rate": 1.0, "decline_via_callback": True}
    if plan.charge_failures:
        provider["fail_first_attempts"] = plan.charge_failures
    provider |= CALLBACK_KNOBS.get(plan.callback, {})
    if plan.callback == "foreign":
        provider["foreign_callback_status"] = plan.foreign_status
    if plan.callback == "late":
        provider["callback_delay_ms"] = int(LATE_TIMER_S * 2000)
    if plan.callback == "early":
        provider |= {"callback_delay_ms": 0, "answer_delay_ms": 2 * latency_ms}
    if plan.strict_provider:
        provider |= {"strict": True, "capture_after_ms": int(plan.capture_after_s * 1000)}
    if plan.charge_late_s and plan.charge_failures:
        missing.append("a charge attempt processed late after attempts that failed")
    elif plan.charge_late_s:
        provider |= {
            "late_first_attempts": 1,
            "late_processing_ms": int(plan.charge_late_s * 1000),
        }
    fraud: dict[str, Any] = {"delay_ms": latency_ms}
    if plan.fraud == "reject":
        fraud["fail_rate"] = 1.0
    elif plan.fraud == "error":
        fraud["error_rate"] = 1.0
    elif plan.fraud == "slow":
        fraud["delay_ms"] = int((SCORING_TIMEOUT.total_seconds() + 5) * 1000)
    notifications: dict[str, Any] = {}
    if 0 < plan.notify_failures < 3:
        missing.append("notifications failing a set number of times")
    for name, why in NO_REAL_FORM.items():
        if getattr(plan, name):
            missing.append(why)
    return {"provider": provider, "fraud": fraud, "notifications": notifications}


def _cancels(plans: list[PaymentPlan], missing: list[str]) -> dict[str, Any] | None:
    """The workload's cancel signal, for a payment whose interrupt is one (the other
    interrupts are the workflow nemesis's)."""
    cancels = None
    for plan in plans:
        if plan.interrupt != "cancel":
            continue
        step = STEP_NAMES.get(plan.interrupt_at)
        if step is None:
            missing.append(f"an interrupt during {plan.interrupt_at} (no poller sees that step)")
        elif step not in SIGNAL_STEPS:
            missing.append(f"a cancel signal during {plan.interrupt_at} (after the decision)")
        else:
            cancels = {"share": round(1 / len(plans), 3), "at_steps": [step]}
    return cancels
