"""The names of the stack's processes: one list for the launcher, the scenario format (which
kills and restarts them by name) and the explorer."""

from __future__ import annotations

from orchestrator.roles import ROLES

#: Simulator process name -> its module (``python -m MODULE``).
SIMULATOR_MODULES = {
    "sim-provider": "simulators.provider",
    "sim-fraud": "simulators.fraud",
    "sim-notify": "simulators.notifications",
}
#: One worker process per role of :data:`orchestrator.roles.ROLES`.
WORKER_PROCESSES = tuple(f"worker-{role}" for role in ROLES)
#: Every process of the embedded stack but Toxiproxy and Prometheus (which faults never target).
PROCESS_NAMES = ("temporal", "api", *SIMULATOR_MODULES, *WORKER_PROCESSES)
