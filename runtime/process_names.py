"""The names of the stack's processes and links: one list for the launcher, the scenario format
(which kills and restarts them by name) and the explorer.

Both backends run the simulators, the API and one worker per role. The dev backend adds the
Temporal dev server (``temporal``). The cluster backend adds PostgreSQL (``postgres``), the
Temporal services as processes of their own (``temporal-history`` and so on; ``temporal`` names
them all at once there), a second account worker (``worker-accounts-2``: account workers on two
machines sharing one ledger) and the ``db`` link between the account workers and PostgreSQL.
"""

from __future__ import annotations

from typing import Literal

from orchestrator.roles import ROLES

Backend = Literal["dev", "cluster"]
BACKENDS: tuple[Backend, ...] = ("dev", "cluster")

#: Simulator process name -> its module (``python -m MODULE``).
SIMULATOR_MODULES = {
    "sim-provider": "simulators.provider",
    "sim-fraud": "simulators.fraud",
    "sim-notify": "simulators.notifications",
}
#: One worker process per role of :data:`orchestrator.roles.ROLES`.
WORKER_PROCESSES = tuple(f"worker-{role}" for role in ROLES)
#: The cluster backend's second account worker.
SECOND_ACCOUNT_WORKER = "worker-accounts-2"
#: The Temporal server's services on the cluster backend, in start order; each runs as the
#: process ``temporal-<service>``.
TEMPORAL_SERVICES = ("history", "matching", "frontend", "worker")
TEMPORAL_SERVICE_PROCESSES = tuple(f"temporal-{s}" for s in TEMPORAL_SERVICES)
#: Every process a fault can target, on either backend (Toxiproxy and Prometheus are never
#: targets). ``temporal`` is the dev server, or on the cluster backend every Temporal service.
PROCESS_NAMES = (
    "temporal",
    "api",
    *SIMULATOR_MODULES,
    *WORKER_PROCESSES,
    SECOND_ACCOUNT_WORKER,
    "postgres",
    *TEMPORAL_SERVICE_PROCESSES,
)
#: The processes only the cluster backend runs.
CLUSTER_ONLY_PROCESSES = frozenset({SECOND_ACCOUNT_WORKER, "postgres", *TEMPORAL_SERVICE_PROCESSES})
#: The Toxiproxy links of both backends, and the one only the cluster backend has (account
#: workers to PostgreSQL: the SQLite ledger is a file, with no link to break).
LINKS = ("temporal", "provider", "callbacks", "fraud", "notify")
CLUSTER_ONLY_LINKS = ("db",)


def backend_has(backend: Backend, *, process: str | None = None, link: str | None = None) -> bool:
    """Whether a stack of ``backend`` runs ``process`` / has ``link``."""
    if process is not None and backend == "dev" and process in CLUSTER_ONLY_PROCESSES:
        return False
    return not (link is not None and backend == "dev" and link in CLUSTER_ONLY_LINKS)
