"""``clock_skew``: one account worker's clock set off from true time (the worker, on its own
host, whose clock drifted or was stepped), while the other account worker keeps the true time.

The worker is restarted under libfaketime (``LD_PRELOAD``, Debian's ``libfaketime``), which
shifts every wall-clock read of that process (Python's ``time.time``, ``datetime.now``, the SDK's
core) by ``offset_s``; its monotonic clock stays true, so its timeouts are unchanged. At the end
it is restarted on the true clock. Only the cluster backend runs this: there two account workers
share one PostgreSQL ledger, which stamps entries and bounds the velocity window by the
database's clock, so the correct ledger is immune. On the dev backend the ledger is a SQLite file
on one host, whose one clock every process shares: a skew between its workers cannot happen.

The effect is measured: the pid changed, and a process started with the same environment reads
a wall clock ``offset_s`` off this one's.
"""

from __future__ import annotations

import glob
import random
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Annotated, Any, Literal

import msgspec

from chaos.errors import ScenarioError
from chaos.nemesis.base import Driver, FaultBase, Nemesis, Parts, Target, refuse
from runtime.process_names import SECOND_ACCOUNT_WORKER

if TYPE_CHECKING:
    from chaos.explore.virtual.schedule import Schedule
    from chaos.scenario.format import Scenario

#: Where Debian's libfaketime package puts the library (any architecture).
LIBFAKETIME = "/usr/lib/*/faketime/libfaketime.so.1"
#: The account workers: each has its own clock; the cluster runs both.
AccountWorker = Literal["worker-accounts", "worker-accounts-2"]
#: How far a measured clock may be from the offset asked (process start and scheduling).
MEASURE_SLACK_S = 2.0


class ClockSkewFault(FaultBase, tag="clock_skew", tag_field="kind", kw_only=True):
    """Set one account worker's wall clock ``offset_s`` off true time for the window (it is
    restarted under libfaketime, then on the true clock); the other account worker keeps the
    true time. Cluster backend only (two account workers on one PostgreSQL ledger)."""

    target: AccountWorker = "worker-accounts-2"
    """The account worker whose clock is off."""
    offset_s: Annotated[float, msgspec.Meta(ge=-86_400.0, le=86_400.0)]
    """Seconds its clock is ahead (positive) or behind (negative) true time; not 0, at most a
    day."""


def faketime_library() -> str:
    """libfaketime's path, or a :class:`ScenarioError` saying what to install."""
    found = sorted(glob.glob(LIBFAKETIME))
    if not found:
        raise ScenarioError(
            f"clock_skew needs libfaketime ({LIBFAKETIME} not found): apt-get install libfaketime"
        )
    return found[0]


def skewed_environment(offset_s: float) -> dict[str, str]:
    """The variables that set a process's wall clock ``offset_s`` off, its monotonic clock not."""
    return {
        "LD_PRELOAD": faketime_library(),
        "FAKETIME": f"{offset_s:+g}s",
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",
    }


def measured_offset(env: dict[str, str]) -> float:
    """How far ahead of this process's wall clock one started with ``env`` reads its own."""
    code = "import time; print(time.time())"
    before = time.time()
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    return float(out) - (before + time.time()) / 2


class ClockSkewNemesis(Nemesis[ClockSkewFault]):
    """Restarts the worker under libfaketime at the start; on the true clock at the end."""

    fault_type = ClockSkewFault
    explored = True
    cluster_only = True
    virtual_fields = ("account_clocks_s",)

    @classmethod
    def describe(cls, fault: ClockSkewFault) -> str:
        return f"{fault.target}'s clock {fault.offset_s:+g} s"

    @classmethod
    def check(cls, fault: ClockSkewFault, scenario: Scenario, source: str, where: str) -> None:
        if not fault.offset_s:
            refuse(source, f"{where}.offset_s", "a skew of 0 s changes nothing")

    @classmethod
    def parts(cls, fault: ClockSkewFault) -> Parts:
        # Both account workers: a skew is between them, so only the cluster runs it.
        return Parts(processes=tuple(sorted({fault.target, SECOND_ACCOUNT_WORKER})))

    @classmethod
    def refusal(cls, fault: ClockSkewFault, driver: Driver) -> str | None:
        if driver in ("compose", "attached"):
            return "a clock skew (the harness restarts the worker under libfaketime itself)"
        return None

    @classmethod
    def generate(cls, rng: random.Random, span: float) -> dict[str, Any]:
        # From the start and over every payment: a skew matters across the debits it splits.
        return {
            "target": rng.choice(["worker-accounts", SECOND_ACCOUNT_WORKER]),
            "offset_s": rng.choice([90.0, 600.0]) * rng.choice([-1, 1]),
            "at_s": 0.0,
            "duration_s": round(span + 3, 1),
        }

    @classmethod
    def from_virtual(cls, schedule: Schedule, missing: list[str]) -> list[dict[str, Any]]:
        skews = [s for s in schedule.account_clocks_s if s]
        if not skews:
            return []
        first = min(p.start_s for p in schedule.payments)
        window = {"at_s": 0.0, "duration_s": first + 120.0}
        return [{"kind": "clock_skew", "offset_s": skews[0]} | window]

    def apply(self) -> None:
        fault, stack = self.fault, self.target.stack
        env = skewed_environment(fault.offset_s)
        before = stack.processes[fault.target].pid
        stack.restart(fault.target, env=env)
        after = stack.processes[fault.target].pid
        offset = measured_offset(env)
        self.record.effect = (
            f"pid {before} replaced by {after}, under libfaketime: its clock reads {offset:+.1f} s"
        )
        self.record.effective = after not in (None, before) and (
            abs(offset - fault.offset_s) <= MEASURE_SLACK_S
        )

    def revert(self) -> None:
        self.target.stack.restart(self.fault.target)
        self.record.effect = f"{self.record.effect}; back on the true clock"

    @classmethod
    def restore(cls, target: Target) -> list[str]:
        restored = []
        for name, process in target.stack.processes.items():
            env = getattr(process, "env", None)
            if env and "FAKETIME" in env:
                target.stack.restart(name)
                restored.append(f"restarted {name} on the true clock")
        return restored
