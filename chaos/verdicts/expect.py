"""Verdicts: each expectation of a scenario against what the run observed."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from chaos.nemesis.base import FaultRecord
from chaos.nemesis.workflow import deletes
from chaos.run.workload import PAYMENT_ENDED_FIRST, PaymentRecord
from chaos.scenario.format import Count, Scenario
from chaos.verdicts.evidence import Evidence


@dataclass(frozen=True)
class Verdict:
    """One expectation, the observed value, and whether it held."""

    name: str
    expected: str
    observed: str
    passed: bool


def _describe(count: Count) -> str:
    parts = []
    if count.min is not None:
        parts.append(f">= {count.min}")
    if count.max is not None:
        parts.append(f"<= {count.max}")
    if count.min_share is not None:
        parts.append(f">= {count.min_share:.0%}")
    if count.max_share is not None:
        parts.append(f"<= {count.max_share:.0%}")
    return ", ".join(parts) or "any"


def check_count(name: str, count: Count, observed: int, total: int) -> Verdict:
    """A count against its bounds (shares are of ``total``)."""
    share = observed / total if total else 0.0
    held = (
        (count.min is None or observed >= count.min)
        and (count.max is None or observed <= count.max)
        and (count.min_share is None or share >= count.min_share - 1e-9)
        and (count.max_share is None or share <= count.max_share + 1e-9)
    )
    return Verdict(name, _describe(count), f"{observed} of {total} ({share:.0%})", held)


def terminal_after_s(status: dict[str, object]) -> float | None:
    """Seconds from the saga's start to its terminal state, from its timeline (workflow time)."""
    timeline = status.get("timeline") or []
    assert isinstance(timeline, list)
    times = {e["event"]: datetime.fromisoformat(e["at"]) for e in timeline}
    state = status.get("state")
    if "started" not in times or state not in times:
        return None
    return (times[str(state)] - times["started"]).total_seconds()


@dataclass(frozen=True)
class Run:
    """What the expectations judge: the scenario, its evidence and its fault records."""

    scenario: Scenario
    evidence: Evidence
    faults: Sequence[FaultRecord]

    @property
    def payments(self) -> list[PaymentRecord]:
        """The workload's payments."""
        return self.evidence.payments

    @property
    def total(self) -> int:
        """How many payments the shares are of."""
        return len(self.evidence.payments)


def _created(run: Run) -> list[Verdict]:
    made = sum(p.payment_id is not None for p in run.payments)
    return [
        Verdict(
            "payments created", str(run.scenario.workload.payments), str(made), made == run.total
        )
    ]


def _outcome_counts(run: Run) -> list[Verdict]:
    """``expect.states``, ``reasons`` and ``compensations``."""
    expect, payments, total = run.scenario.expect, run.payments, run.total
    states = Counter(p.state for p in payments)
    reasons = Counter(str(p.status.get("reason")) for p in payments if p.status.get("reason"))
    compensations = Counter(c for p in payments for c in p.status.get("compensations", []))
    return [
        *(check_count(f"state {k}", c, states[k], total) for k, c in expect.states.items()),
        *(check_count(f"reason {k}", c, reasons[k], total) for k, c in expect.reasons.items()),
        *(
            check_count(f"compensation {k}", c, compensations[k], total)
            for k, c in expect.compensations.items()
        ),
    ]


def _provider_attempts(run: Run) -> list[Verdict]:
    bound = run.scenario.expect.max_provider_attempts
    if bound is None:
        return []
    most = max((int(p.status.get("provider_attempts", 0)) for p in run.payments), default=0)
    verdict = check_count("max provider attempts", bound, most, run.total)
    return [Verdict(verdict.name, verdict.expected, str(most), verdict.passed)]


def _callbacks(run: Run) -> list[Verdict]:
    """``expect.late_callbacks_ignored``, ``duplicate_callbacks`` and ``foreign_callbacks``."""
    expect, evidence = run.scenario.expect, run.evidence
    return [
        check_count(name, bound, observed, run.total)
        for name, bound, observed in (
            (
                "late callbacks ignored",
                expect.late_callbacks_ignored,
                evidence.late_callbacks_ignored,
            ),
            (
                "duplicate callbacks delivered",
                expect.duplicate_callbacks,
                evidence.duplicate_callbacks,
            ),
            ("foreign callbacks delivered", expect.foreign_callbacks, evidence.foreign_callbacks),
        )
        if bound is not None
    ]


def _account_workers(run: Run) -> list[Verdict]:
    bound = run.scenario.expect.account_workers
    if bound is None:
        return []
    ran = sorted(
        {
            worker
            for payment in run.evidence.bundle.payments
            if payment.execution is not None
            for worker in payment.execution.account_workers
        }
    )
    verdict = check_count("account workers used", bound, len(ran), run.total)
    return [Verdict(verdict.name, verdict.expected, ", ".join(ran) or "none", verdict.passed)]


def _deadline(run: Run) -> list[Verdict]:
    deadline, payments, total = run.scenario.expect.deadline_s, run.payments, run.total
    late = [p for p in payments if not p.done or (terminal_after_s(p.status) or 0) > deadline]
    slowest = max((terminal_after_s(p.status) or 0 for p in payments), default=0)
    return [
        Verdict(
            "terminal within deadline",
            f"all within {deadline:g}s",
            f"{total - len(late)} of {total} (slowest {slowest:.1f}s)",
            not late,
        )
    ]


def _notifications(run: Run) -> list[Verdict]:
    """``expect.notifications`` and ``notices_sent``."""
    expect, payments, total = run.scenario.expect, run.payments, run.total
    verdicts = []
    if expect.notifications:
        missing = [
            p for p in payments if p.done and not p.terminated and not p.status.get("notification")
        ]
        verdicts.append(
            Verdict(
                "notification attempted",
                "every terminal payment",
                f"{total - len(missing)} of {total}",
                not missing,
            )
        )
    if expect.notices_sent is not None:
        sent = [p for p in payments if str(p.status.get("notification", "")).startswith("sent:")]
        verdicts.append(check_count("notices delivered", expect.notices_sent, len(sent), total))
    return verdicts


def _invariants(run: Run) -> list[Verdict]:
    if not run.scenario.expect.invariants:
        return []
    return [Verdict(c.name, "holds", c.summary(), c.valid) for c in run.evidence.checks]


def _upgrade(run: Run) -> list[Verdict]:
    return _upgrade_verdicts(run.evidence) if run.scenario.expect.upgrade_paths else []


def _faults_hit(run: Run) -> list[Verdict]:
    """Faults aimed at payments (workflow, crash) hit at least one."""
    return [
        Verdict(
            f"fault {fault.index} ({fault.description}) hit payments",
            f"at least 1 of {fault.planned_targets} targeted",
            str(len(fault.hit)),
            bool(fault.hit),
        )
        for fault in run.faults
        if fault.planned_targets is not None
    ]


def _faults_effective(run: Run) -> list[Verdict]:
    return [
        Verdict(
            f"fault {fault.index} ({fault.description}) took effect",
            "an observable effect" if spec.expect_effect else "not required",
            fault.effect or "none seen",
            fault.effective or not spec.expect_effect,
        )
        for fault, spec in zip(run.faults, run.scenario.faults, strict=False)
        if fault.effective is not None
    ]


def _probes(run: Run) -> list[Verdict]:
    """Invalid requests and forged callbacks sent alongside were refused."""
    verdicts = []
    invalid = [p for p in run.evidence.probes if p.kind.startswith("invalid:")]
    if invalid:
        refused = [p for p in invalid if 400 <= p.status_code < 500 and p.problem_json]
        verdicts.append(
            Verdict(
                "invalid requests refused (4xx problem)",
                str(len(invalid)),
                f"{len(refused)} ({sorted({p.status_code for p in invalid})})",
                len(refused) == len(invalid),
            )
        )
    forged = [p for p in run.evidence.probes if p.kind == "forged_callback"]
    if forged:
        refused = [p for p in forged if p.status_code in (400, 401) and p.problem_json]
        verdicts.append(
            Verdict(
                "forged callbacks refused (400/401)",
                str(len(forged)),
                str(len(refused)),
                len(refused) == len(forged),
            )
        )
    return verdicts


def evaluate(
    scenario: Scenario, evidence: Evidence, faults: Sequence[FaultRecord]
) -> list[Verdict]:
    """Every verdict of the run, in a stable order (that of :data:`EXPECTATIONS`)."""
    run = Run(scenario, evidence, faults)
    return [verdict for expectation in EXPECTATIONS for verdict in expectation(run)]


def _cancels(run: Run) -> list[Verdict]:
    """Planned cancels are a fault too: at least one must be sent, and none may be lost to
    anything but its payment ending first (which the scenario's states then judge)."""
    planned = [p for p in run.payments if p.cancel_at and p.payment_id]
    if not planned:
        return []
    sent = [p for p in planned if p.cancel_sent]
    lost = [p for p in planned if not p.cancel_sent and not _ended_first(p)]
    detail = "; ".join(f"{p.payment_id}: {p.cancel_missed}" for p in lost[:3])
    return [
        Verdict(
            "planned cancels sent",
            f"at least 1 of {len(planned)}, none lost",
            f"{len(sent)} sent, {len(lost)} lost" + (f" ({detail})" if detail else ""),
            bool(sent) and not lost,
        )
    ]


def _ended_first(payment: PaymentRecord) -> bool:
    return (payment.cancel_missed or "").startswith(PAYMENT_ENDED_FIRST)


def _retried_after_delete(run: Run) -> list[Verdict]:
    """A key retried after its execution was deleted answered as its payment, ``created:
    false`` (that no second saga started is the executions check's)."""
    if not deletes(run.scenario):
        return []
    deleted = [p for p in run.payments if p.deleted]
    wrong = [
        f"{p.payment_id}: {p.resubmitted}"
        for p in deleted
        if p.resubmitted is None
        or p.resubmitted.get("payment_id") != p.payment_id
        or p.resubmitted.get("created") is not False
    ]
    return [
        Verdict(
            "keys retried after delete",
            "each answered as its payment, created: false",
            f"{len(deleted) - len(wrong)} of {len(deleted)}"
            + (f" (wrong: {'; '.join(wrong[:3])})" if wrong else ""),
            bool(deleted) and not wrong,
        )
    ]


def _reconciler(run: Run) -> list[Verdict]:
    scenario, evidence = run.scenario, run.evidence
    report = evidence.reconcile
    if report is None:
        return []
    ours = {p.payment_id for p in evidence.payments if p.payment_id}
    made = [r for r in report.repaired if r.done and r.payment_id in ours]
    # A saga that completed must have settled its own money: a repair for it is a saga bug,
    # unless the provider made the charge after the saga gave up on it.
    late = set(report.late_charges)
    behind_sagas = [
        r.payment_id
        for r in report.planned
        if r.execution == "COMPLETED" and r.payment_id in ours and r.payment_id not in late
    ]
    verdicts = [
        Verdict(
            "reconciler repaired only what no saga could",
            "no repair of a completed saga",
            f"{len(behind_sagas)} ({', '.join(behind_sagas[:3])})" if behind_sagas else "0",
            not behind_sagas,
        )
    ]
    if scenario.expect.reconciled is not None:
        verdicts.append(
            check_count(
                "reconciler repairs", scenario.expect.reconciled, len(made), len(evidence.payments)
            )
        )
    if scenario.expect.late_charges is not None:
        verdicts.append(
            check_count(
                "late charges found and reversed",
                scenario.expect.late_charges,
                len(late & ours),
                len(evidence.payments),
            )
        )
    return verdicts


def _upgrade_verdicts(evidence: Evidence) -> list[Verdict]:
    window = evidence.upgrade_window
    if window is None:
        return [Verdict("upgrade applied", "an upgrade fault ran", "none", False)]
    start, end = window
    created = [
        (p.created_at_s, p.payment_id)
        for p in evidence.payments
        if p.payment_id and p.created_at_s is not None
    ]
    before = [pid for at, pid in created if at < start]
    after = [pid for at, pid in created if at > end]
    old_ok = [pid for pid in before if not evidence.new_path.get(pid)]
    new_ok = [pid for pid in after if evidence.new_path.get(pid)]
    # Old-path payments that the new build finished: they were moved mid-flight (AUTO_UPGRADE).
    builds = set(evidence.finished_on.values())
    newest = max(builds) if builds else ""
    moved = [pid for pid in before if evidence.finished_on.get(pid) == newest]
    return [
        Verdict(
            "old-path payments finished by the new build",
            "at least 1",
            f"{len(moved)} of {len(before)} (builds seen: {', '.join(sorted(builds))})",
            bool(moved),
        ),
        Verdict(
            "payments before the upgrade took the old path",
            "all, at least 1",
            f"{len(old_ok)} of {len(before)}",
            bool(before) and len(old_ok) == len(before),
        ),
        Verdict(
            "payments after the upgrade took the new path",
            "all, at least 1",
            f"{len(new_ok)} of {len(after)}",
            bool(after) and len(new_ok) == len(after),
        ),
        Verdict(
            "no non-determinism",
            "0 failed workflow tasks",
            str(evidence.nondeterminism),
            evidence.nondeterminism == 0,
        ),
    ]


#: Every expectation, in the order its verdicts are reported.
EXPECTATIONS: tuple[Callable[[Run], list[Verdict]], ...] = (
    _created,
    _outcome_counts,
    _provider_attempts,
    _callbacks,
    _account_workers,
    _deadline,
    _notifications,
    _invariants,
    _upgrade,
    _reconciler,
    _retried_after_delete,
    _faults_hit,
    _faults_effective,
    _cancels,
    _probes,
)
