"""CPU time of processes, from /proc (Linux): who used the machine during a phase."""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from pathlib import Path

from runtime.process_names import TEMPORAL_SERVICE_PROCESSES
from runtime.processes import descendants

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds of one process and its reaped children so far (0 if gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # After the command: state is field 3, utime 14, stime 15, cutime 16, cstime 17 (1-based).
    utime, stime, cutime, cstime = (int(fields[i]) for i in range(11, 15))
    return (utime + stime + cutime + cstime) / TICKS


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of a process and of every live process below it (PostgreSQL's backends are
    its children but leave its process group, and are counted only here until they exit)."""
    return cpu_seconds(pid) + sum(_own_cpu_seconds(child) for child in descendants(pid))


def _own_cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def snapshot(pids: dict[str, int], alone: Collection[str] = ()) -> dict[str, float]:
    """CPU seconds per named process, its descendants included, except for the processes named
    in ``alone``, counted on their own (the harness itself: its descendants are the whole stack
    and k6, which are counted apart)."""
    return {
        name: _own_cpu_seconds(pid) if name in alone else tree_cpu_seconds(pid)
        for name, pid in pids.items()
    }


#: The Temporal server's processes on either backend (the cluster's PostgreSQL holds its
#: persistence and visibility, and the ledger too).
SERVER_PROCESSES = ("temporal", "postgres", *TEMPORAL_SERVICE_PROCESSES)


def server_cpu_s(cpu_s: Mapping[str, float]) -> float:
    """CPU seconds the Temporal server (and its database) used, from a per-process table."""
    return sum(cpu_s.get(name, 0.0) for name in SERVER_PROCESSES)


def seconds_used(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """CPU seconds each process used between two snapshots."""
    return {name: max(0.0, after.get(name, 0.0) - before.get(name, 0.0)) for name in after}
