"""CPU time of processes, from /proc (Linux): who used the machine during a phase."""

from __future__ import annotations

import os
from pathlib import Path

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


def snapshot(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds per named process."""
    return {name: cpu_seconds(pid) for name, pid in pids.items()}


def seconds_used(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """CPU seconds each process used between two snapshots."""
    return {name: max(0.0, after.get(name, 0.0) - before.get(name, 0.0)) for name in after}
