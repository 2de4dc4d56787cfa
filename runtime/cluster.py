"""The cluster backend: the real Temporal server on PostgreSQL, its services as processes.

``saga up --backend cluster`` runs the Temporal server built from ``go.temporal.io/server`` at
:data:`runtime.binaries.TEMPORAL_SERVER_VERSION` (``make temporal-server`` builds it once, with
the schema tool, into the virtualenv) instead of the dev server: PostgreSQL persistence and SQL
visibility, on the PostgreSQL server the stack starts for its ledger, :data:`SHARDS` history
shards, and the ``history``, ``matching``, ``frontend`` and ``worker`` services each in a
process of its own (``temporal-history`` and so on), so a fault can kill the history service
alone. Each service has its own config file (they differ in their metrics port) under
``<state>/temporal/config``.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from runtime.binaries import TEMPORAL_SERVER, require
from runtime.errors import StackError
from runtime.process_names import TEMPORAL_SERVICES as SERVICES
from runtime.processes import ManagedProcess, free_port, port_open

SHARDS = 4
DATABASES = ("temporal", "temporal_visibility")


def schema_dir() -> Path:
    """The PostgreSQL schemas ``make temporal-server`` copied next to the binaries."""
    found = Path(sys.executable).parent.parent / "share" / "temporal-schema" / "postgresql"
    if not found.is_dir():
        raise StackError(f"the Temporal SQL schemas are missing ({found}): {TEMPORAL_SERVER}")
    return found


@dataclass(frozen=True)
class ServicePorts:
    """The ports of one Temporal service."""

    grpc: int
    membership: int
    metrics: int
    http: int | None = None


def service_ports(frontend_port: int) -> dict[str, ServicePorts]:
    """Free loopback ports for every service; the frontend's gRPC port is ``frontend_port``."""
    return {
        name: ServicePorts(
            grpc=frontend_port if name == "frontend" else free_port(),
            membership=free_port(),
            metrics=free_port(),
            http=free_port() if name == "frontend" else None,
        )
        for name in SERVICES
    }


def setup_schema(postgres_port: int, password: str) -> None:
    """Create the persistence and visibility schemas with the server's own SQL tool."""
    tool = require("temporal-sql-tool")
    schemas = schema_dir() / "v12"
    for database, schema in zip(DATABASES, ("temporal", "visibility"), strict=True):
        base = [tool, "--plugin", "postgres12", "--ep", "127.0.0.1", "-p", str(postgres_port)]
        base += ["-u", "postgres", "--pw", password, "--db", database]
        for step in (
            ["create-database"],
            ["setup-schema", "-v", "0.0"],
            ["update-schema", "-d", str(schemas / schema / "versioned")],
        ):
            done = subprocess.run([*base, *step], capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise StackError(
                    f"temporal-sql-tool {' '.join(step)} on {database} failed:\n"
                    f"{done.stdout[-2000:]}{done.stderr[-2000:]}"
                )


def write_configs(
    root: Path,
    postgres_port: int,
    password: str,
    ports: dict[str, ServicePorts],
    dynamic: dict[str, object],
) -> None:
    """One config file per service under ``root/config`` (``<service>.yaml``), and the dynamic
    config they share."""
    config_dir = root / "config"
    config_dir.mkdir(parents=True, exist_ok=True)
    dynamic_path = config_dir / "dynamicconfig.yaml"
    dynamic_path.write_text(
        yaml.safe_dump({key: [{"value": value}] for key, value in dynamic.items()})
    )

    def store(database: str, conns: int) -> dict[str, object]:
        return {
            "sql": {
                # pgx keeps each connection's prepared statements: PostgreSQL parses and plans
                # a query once per connection instead of once per call (lib/pq, `postgres12`).
                # Its CPU per payment fell 58 -> 35 ms (BENCHMARKS.md, issue 33).
                "pluginName": "postgres12_pgx",
                "databaseName": database,
                "connectAddr": f"127.0.0.1:{postgres_port}",
                "connectProtocol": "tcp",
                "user": "postgres",
                "password": password,
                "maxConns": conns,
                "maxIdleConns": conns,
                "maxConnLifetime": "1h",
            }
        }

    frontend = f"127.0.0.1:{ports['frontend'].grpc}"
    services = {}
    for name, p in ports.items():
        rpc: dict[str, object] = {
            "grpcPort": p.grpc,
            "membershipPort": p.membership,
            "bindOnLocalHost": True,
        }
        if p.http is not None:
            rpc["httpPort"] = p.http
        services[name] = {"rpc": rpc}
    for name, p in ports.items():
        config = {
            "log": {"stdout": True, "level": "warn"},
            "persistence": {
                "defaultStore": "default",
                "visibilityStore": "visibility",
                "numHistoryShards": SHARDS,
                "datastores": {
                    "default": store("temporal", 20),
                    "visibility": store("temporal_visibility", 5),
                },
            },
            "global": {
                "membership": {"maxJoinDuration": "30s", "broadcastAddress": "127.0.0.1"},
                "metrics": {
                    "prometheus": {
                        "framework": "tally",
                        "timerType": "histogram",
                        "listenAddress": f"127.0.0.1:{p.metrics}",
                    }
                },
            },
            "services": services,
            "clusterMetadata": {
                "enableGlobalNamespace": False,
                "failoverVersionIncrement": 10,
                "masterClusterName": "active",
                "currentClusterName": "active",
                "clusterInformation": {
                    "active": {
                        "enabled": True,
                        "initialFailoverVersion": 1,
                        "rpcName": "frontend",
                        "rpcAddress": frontend,
                    }
                },
            },
            "dcRedirectionPolicy": {"policy": "noop"},
            "archival": {
                "history": {"state": "disabled"},
                "visibility": {"state": "disabled"},
            },
            "namespaceDefaults": {
                "archival": {"history": {"state": "disabled"}, "visibility": {"state": "disabled"}}
            },
            "dynamicConfigClient": {"filepath": str(dynamic_path), "pollInterval": "10s"},
        }
        (config_dir / f"{name}.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


def service_process(root: Path, name: str, ports: ServicePorts, log: Path) -> ManagedProcess:
    """``temporal-<name>`` (not yet launched); ready when its gRPC port listens (the worker
    service serves none: when its membership port does)."""
    argv = [
        require("temporal-server"),
        "--root",
        str(root),
        "--config",
        "config",
        "--env",
        name,
        "--allow-no-auth",
        "start",
        "--service",
        name,
    ]
    port = ports.membership if name == "worker" else ports.grpc
    return ManagedProcess(f"temporal-{name}", argv, log, lambda: port_open(port))
