"""The model's service times, measured on the real stack and stored as JSON.

Every CPU cost is seconds of one core per operation, derived from a real run by dividing each
process's CPU time by how many operations it did (``saga simulate calibrate``). ``hop_s`` is
the latency of one trip through the Temporal server that is not CPU (matching, long-poll
wake-ups, network): it cannot be seen directly, so calibration solves for it from the measured
median saga latency at low load.
"""

from __future__ import annotations

from pathlib import Path

import msgspec

DEFAULT_PATH = Path(__file__).with_name("calibration.json")
#: One calibration per backend: the dev server's, and the cluster's.
PATHS = {"dev": DEFAULT_PATH, "cluster": Path(__file__).with_name("calibration-cluster.json")}


class Calibration(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Service times (seconds) and where they came from."""

    server_event_s: float = 0.002
    """Temporal server CPU per history event (persistence, matching, visibility included)."""
    payments_task_s: float = 0.004
    """Payments worker CPU per workflow task (the saga's, including its charge activity)."""
    fraud_task_s: float = 0.003
    """Fraud worker CPU per workflow task or scoring activity."""
    accounts_activity_s: float = 0.002
    """Accounts worker CPU per ledger activity."""
    notify_activity_s: float = 0.002
    """Notification worker CPU per notification."""
    api_request_s: float = 0.003
    """API CPU per request (create, state poll, status read, webhook)."""
    simulator_request_s: float = 0.001
    """Simulator CPU per request (provider charge or callback, score, notification)."""
    background_per_payment_s: float = 0.004
    """Everything else per payment on the one machine: k6, Prometheus, Toxiproxy."""
    hop_s: float = 0.01
    """Non-CPU latency of one trip through the server (matching, polling, network)."""
    retry_floor_s: float = 1.0
    """The shortest time between a failed attempt and its retry, whatever the backoff: the
    dev server measured 1.0 s between charge attempts for backoffs of 0.2, 0.4 and 0.8 s
    (``saga_activity_retry_delay_seconds``), so a retry waits ``max(backoff + overhead,
    floor)``."""
    retry_overhead_s: float = 0.0
    """What a retry adds to its backoff beyond the attempt's own work, which the model counts
    itself: the failure's report, the server's retry timer and the new attempt's dispatch
    (measured: the gap before the first charge retry less its backoff and the attempt)."""
    events_per_payment: float = 45.0
    """History events of a happy-path payment with its fraud child (for the report)."""
    machine_cores: int = 2
    backend: str = "dev"
    """The backend it was measured on (``saga simulate calibrate --backend``)."""
    source: str = "defaults (run `saga simulate calibrate`)"


def load_calibration(path: Path = DEFAULT_PATH) -> Calibration:
    """The stored calibration (defaults when none was written)."""
    if not path.exists():
        return Calibration()
    return msgspec.json.decode(path.read_bytes(), type=Calibration)


def save_calibration(calibration: Calibration, path: Path = DEFAULT_PATH) -> Path:
    """Write a calibration file."""
    path.write_bytes(msgspec.json.format(msgspec.json.encode(calibration)) + b"\n")
    return path
