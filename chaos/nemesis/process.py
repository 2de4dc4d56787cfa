"""``process``: kill (-9, restarted after the window), restart (clean) or pause (SIGSTOP) one
process of the stack.

Its effect is read from the process itself: the PID died (kill), changed (restart) or the
process stopped (pause, from /proc; a container's own state on docker-compose).
"""

from __future__ import annotations

import random
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from chaos.nemesis.base import Conditions, FaultBase, Nemesis, Parts, Target, refuse
from chaos.scenario.types import ProcessName
from runtime.process_names import WORKER_PROCESSES
from runtime.stack_view import ProcessView

if TYPE_CHECKING:
    from chaos.scenario.format import Scenario

#: Simulators that keep their state in memory: a kill or restart would wipe it (the provider's
#: charges, the notification outbox) and make a correct saga fail its checks.
STATEFUL = {"sim-provider": "its charges", "sim-notify": "its outbox"}


class ProcessFault(FaultBase, tag="process", tag_field="kind", kw_only=True):
    """``kill`` (-9, restarted after ``duration_s``), ``restart`` (clean) or ``pause`` (SIGSTOP)."""

    target: ProcessName
    """The process (``sim-provider`` and ``sim-notify`` keep state in memory: only ``pause``).
    ``temporal`` is the dev server, or every Temporal service on the cluster backend, which also
    runs ``postgres``, ``temporal-history``, ``-matching``, ``-frontend``, ``-worker`` and
    ``worker-accounts-2`` (a scenario naming one of those runs only there)."""
    action: Literal["kill", "restart", "pause"]
    """``kill``: SIGKILL, restarted after ``duration_s``; ``restart``: a clean stop and start;
    ``pause``: SIGSTOP for ``duration_s``."""


def process_effect(
    fault: ProcessFault, before: int | None, process: ProcessView
) -> tuple[str, bool]:
    """Whether a process fault did what it says: the PID died (kill), changed (restart) or the
    process stopped (pause, read from /proc)."""
    if before is None:
        return f"{fault.target} was not running", False
    if fault.action == "kill":
        return killed_effect(before, process)
    if fault.action == "restart":
        return f"pid {before} replaced by {process.pid}", process.pid not in (None, before)
    paused = getattr(process, "paused", None)
    if paused is not None:  # a container (runtime.compose): docker's own state, not /proc
        return f"{fault.target} {'paused' if paused else 'not paused'}", bool(paused)
    state = "?"
    for _ in range(20):  # SIGSTOP takes a moment to show in /proc
        try:
            state = Path(f"/proc/{before}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return f"pid {before} gone", False
        if state == "T":
            break
        time.sleep(0.05)
    return f"pid {before} in state {state}", state == "T"


def killed_effect(before: int, process: ProcessView) -> tuple[str, bool]:
    """Whether process ``before`` died of a SIGKILL."""
    code = process.popen.returncode if process.popen is not None else None
    return f"pid {before} killed (exit {code})", code == -signal.SIGKILL


def kill(process: ProcessView) -> None:
    """SIGKILL a process and reap it."""
    process.signal(signal.SIGKILL)
    assert process.popen is not None
    process.popen.wait(timeout=10)


class ProcessNemesis(Nemesis[ProcessFault]):
    """Signals or restarts the process at the start; restarts or resumes it at the end."""

    fault_type = ProcessFault
    explored = True
    virtual_note = (
        "the virtual world runs no processes: a worker killed mid-activity is the crash kind's"
        " counterpart (an attempt lost after its effect)"
    )

    @classmethod
    def describe(cls, fault: ProcessFault) -> str:
        return f"{fault.action} {fault.target}"

    @classmethod
    def check(cls, fault: ProcessFault, scenario: Scenario, source: str, where: str) -> None:
        if fault.action != "pause" and fault.target in STATEFUL:
            refuse(
                source,
                f"{where}.target",
                f"{fault.target} keeps {STATEFUL[fault.target]} in memory: a {fault.action}"
                " would wipe it and fail a correct saga (pause it, or break its link)",
            )

    @classmethod
    def parts(cls, fault: ProcessFault) -> Parts:
        return Parts(processes=(fault.target,))

    @classmethod
    def shape(cls, fault: ProcessFault, conditions: Conditions) -> None:
        if fault.target.startswith("worker-"):
            window = (fault.at_s, fault.at_s + fault.duration_s)
            conditions.down.setdefault(fault.target, []).append(window)

    @classmethod
    def generate(cls, rng: random.Random, span: float) -> dict[str, Any]:
        target = rng.choice([*WORKER_PROCESSES, "temporal", "sim-fraud"])
        action = "pause" if target == "sim-fraud" else rng.choice(["kill", "restart"])
        return {"target": target, "action": action}

    def apply(self) -> None:
        fault, stack = self.fault, self.target.stack
        pid = stack.processes[fault.target].pid
        process = stack.processes[fault.target]
        if fault.action == "kill":
            kill(process)
        elif fault.action == "pause":
            process.signal(signal.SIGSTOP)
        else:
            stack.restart(fault.target)
        self.record.effect, self.record.effective = process_effect(
            fault, pid, stack.processes[fault.target]
        )

    def revert(self) -> None:
        fault, stack = self.fault, self.target.stack
        if fault.action == "kill":
            stack.restart(fault.target)
            self.record.effect = (
                f"{self.record.effect}; restarted as pid {stack.processes[fault.target].pid}"
            )
        elif fault.action == "pause":
            stack.processes[fault.target].signal(signal.SIGCONT)

    @classmethod
    def restore(cls, target: Target) -> list[str]:
        restored = []
        for name, process in target.stack.processes.items():
            process.signal(signal.SIGCONT)
            if not process.running:
                target.stack.restart(name)
                restored.append(f"restarted {name}")
        return restored
