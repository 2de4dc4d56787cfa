"""EmbeddedStack: the Temporal dev server, three simulators, the API and four workers.

Layout of the state directory::

    config.json      ports, URLs, secrets and saga settings every process reads
    api-keys.json    the API's key table: SHA-256 hashes of the bearer keys (mode 0600)
    credentials.json the demo users' bearer keys, for the CLI and k6 (mode 0600)
    ledger.db        the account service's SQLite ledger
    temporal.db      the dev server's SQLite store (survives restarts)
    logs/<name>.log  one log per process
    ready/<role>     written by each worker once it polls
    prometheus/      generated config, scrape targets (targets.json) and the TSDB
"""

from __future__ import annotations

import asyncio
import compileall
import json
import secrets
import shutil
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Literal

from orchestrator.api.auth import credentials_path
from orchestrator.config import ServiceUrls, StackConfig, write_config
from orchestrator.models import SagaOptions
from orchestrator.roles import ROLES
from orchestrator.temporal_client import (
    register_namespaces,
    set_current_version,
    stranded_by_rollback,
)
from orchestrator.workers import ready_file
from orchestrator.workflows.builds import BUILDS, CURRENT_BUILD, DEPLOYMENT_NAME
from runtime import cluster, prometheus
from runtime.binaries import find, require
from runtime.errors import StackError
from runtime.links import Links
from runtime.metrics import CHAOS_PROCESS_RESTARTS, serve_owner_metrics
from runtime.postgres import create_database, init_cluster, server_process
from runtime.postgres import url as postgres_url
from runtime.process_names import (
    CLUSTER_ONLY_LINKS,
    LINKS,
    SECOND_ACCOUNT_WORKER,
    SIMULATOR_MODULES,
)
from runtime.processes import (
    ManagedProcess,
    ProcessGroup,
    free_port,
    http_ok,
    port_open,
    process_pids,
)
from runtime.prometheus import ScrapeTargets
from runtime.seed import OpensAccounts, seed_demo

PROJECT_PACKAGES = ("orchestrator", "simulators", "observability", "runtime", "chaos")

#: The ledger's database on the stack's PostgreSQL server.
LEDGER_DATABASE = "ledger"
#: A second namespace on the dev server, where ``saga bench`` runs its no-op ceiling workers.
BENCH_NAMESPACE = "saga-bench"
#: How far ahead of now the history service schedules every timer task at the earliest
#: (``history.timerProcessorMaxTimeShift``, 1 s by default). Every timer, an activity's retry
#: backoff included, fires no sooner than this after it is created: with the default a retry
#: policy's 0.2 s backoff waited 1 s (the "retry floor" measured on both backends). The shift
#: guards the timer queue's reader against tasks written behind it; one history host has no
#: clock skew to guard against, so 50 ms makes sub-second backoffs behave as written.
TIMER_SHIFT = "50ms"
#: Executions the history service keeps in its mutable-state cache
#: (``history.hostLevelCacheMaxSize``: the dev server's CLI sets 8,096, the server's own default
#: is 128,000, and an entry stays up to an hour). The cache kept every execution a stack ran: after
#: 2,400 payments the dev server's Go heap had grown from 72 MB to 950 MB and its CPU per payment
#: by 64%, dragging every process on the machine with it (BENCHMARKS.md, "Fifth round"). 512 is
#: far above what one machine has in flight; an execution that falls out is read back from the
#: database when it next wakes.
HISTORY_CACHE_ENTRIES = 512
#: The cluster backend's dynamic config: the dev server's tuning (one task queue partition, eager
#: activities), and search attributes readable as soon as they are registered.
CLUSTER_DYNAMIC_CONFIG: dict[str, object] = {
    "matching.numTaskqueueReadPartitions": 1,
    "matching.numTaskqueueWritePartitions": 1,
    "system.enableActivityEagerExecution": True,
    "system.forceSearchAttributesCacheRefreshOnRead": True,
    "history.timerProcessorMaxTimeShift": TIMER_SHIFT,
    "history.hostLevelCacheMaxSize": HISTORY_CACHE_ENTRIES,
}


#: What a worker process runs: ``python -m orchestrator.workers ROLE ...``.
PRODUCT_WORKERS = ("orchestrator.workers",)


@dataclass
class StackOptions:
    """What to start and how."""

    state_dir: Path
    saga: SagaOptions = field(default_factory=SagaOptions)
    ui: bool = True
    provider_knobs: str = "{}"
    fraud_knobs: str = "{}"
    notify_knobs: str = "{}"
    temporal_port: int | None = None  # None: any free port
    ui_port: int | None = None
    worker_versioning: bool = False
    """Workers join the Worker Deployment ``payment-saga``; ``build`` is made current."""
    build: str = CURRENT_BUILD
    toxiproxy: Literal["auto", "on", "off"] = "auto"
    """``auto``: put Toxiproxy on every link when its server is installed; ``on``: require it."""
    prometheus: Literal["auto", "on", "off"] = "auto"
    """``auto``: start Prometheus when it is on PATH; ``on``: require it."""
    prometheus_port: int | None = None  # None: any free port
    worker_entry: tuple[str, ...] = PRODUCT_WORKERS
    """The module every worker process runs (``python -m``), and arguments before the role: a
    harness's own entry in place of the product's (the mutants run
    ``chaos.mutants.worker --mutant NAME``)."""
    rate_limit_per_s: float = 1000.0
    """The API's per-key limit. Higher than a deployment's (``StackConfig``'s 50/s): the
    harness polls every payment of a scenario user every 50 ms."""
    rate_limit_burst: int = 2000
    ledger: Literal["sqlite", "postgres"] = "sqlite"
    """The ledger's database: a SQLite file in the state directory, or a PostgreSQL server the
    stack starts (Debian's package; ``runtime.postgres``) as its ``postgres`` process."""
    backend: Literal["dev", "cluster"] = "dev"
    """``dev``: the Temporal dev server (SQLite, one process). ``cluster``: the Temporal server
    built from source on PostgreSQL, four shards, one process per service
    (:mod:`runtime.cluster`); the ledger then runs on the same PostgreSQL server, served by two
    account workers (``worker-accounts`` and ``worker-accounts-2``) through the ``db`` link."""


class EmbeddedStack(OpensAccounts):
    """Starts every process of the system as a child, and stops them all on exit."""

    def __init__(self, options: StackOptions) -> None:
        self.options = options
        self.state_dir = options.state_dir.resolve()
        self.processes: dict[str, ManagedProcess | ProcessGroup] = {}
        self.config: StackConfig | None = None
        self.api_keys: dict[str, str] = {}
        self.temporal_port = options.temporal_port or free_port()
        # The cluster backend has no Web UI (the dev server's is built into its CLI).
        web_ui = options.ui and options.backend == "dev"
        self.ui_port = (options.ui_port or free_port()) if web_ui else None
        self.toxiproxy_server = self._toxiproxy_binary()
        self.toxiproxy_port = free_port() if self.toxiproxy_server else None
        self.links: Links | None = None
        self.ledger_location = str(self.state_dir / "ledger.db")
        """The ledger's ``ledger_path``: the SQLite file, or the PostgreSQL URL once started."""
        self.postgres_data: Path | None = None
        self.postgres_port: int | None = None
        self.postgres_password = ""
        """The ledger server's superuser password (generated by :func:`init_cluster`)."""
        self.build = options.build
        #: Worker process name -> its role.
        self.workers = {f"worker-{role}": role for role in ROLES}
        if options.backend == "cluster":
            self.workers[SECOND_ACCOUNT_WORKER] = "accounts"
        self.prometheus_binary = self._prometheus_binary()
        self.prometheus_port = (
            (options.prometheus_port or free_port()) if self.prometheus_binary else None
        )
        self.targets = ScrapeTargets(self.state_dir / "prometheus" / "targets.json")

    def _prometheus_binary(self) -> str | None:
        if self.options.prometheus == "off":
            return None
        if self.options.prometheus == "on":
            return require("prometheus")
        return find("prometheus")

    @property
    def prometheus_url(self) -> str | None:
        """Prometheus, when started."""
        return f"http://127.0.0.1:{self.prometheus_port}" if self.prometheus_port else None

    def add_scrape_target(self, process: str, job: str, port: int) -> None:
        """Have Prometheus scrape ``127.0.0.1:port/metrics`` (e.g. the chaos runner's)."""
        self.targets.set(process, (job, f"127.0.0.1:{port}"))

    def _toxiproxy_binary(self) -> str | None:
        if self.options.toxiproxy == "off":
            return None
        if self.options.toxiproxy == "on":
            return require("toxiproxy-server")
        return find("toxiproxy-server")

    @property
    def config_path(self) -> Path:
        """Where the stack config lives."""
        return self.state_dir / "config.json"

    @property
    def ui_url(self) -> str | None:
        """The Temporal Web UI, when started."""
        return f"http://127.0.0.1:{self.ui_port}" if self.ui_port else None

    def _prepare(self) -> StackConfig:
        # Owner only: it holds the configs (secrets), the ledger, credentials and logs.
        self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.state_dir.chmod(0o700)
        ports = {name: free_port() for name in ("api", "provider", "fraud", "notify")}
        upstream = {**ports, "temporal": self.temporal_port, "callbacks": ports["api"]}
        # With Toxiproxy, each link listens on its own port and forwards to its upstream.
        links = LINKS + (CLUSTER_ONLY_LINKS if self.options.backend == "cluster" else ())
        self.link_ports = {link: free_port() for link in links} if self.toxiproxy_port else {}
        dial = {**upstream, **self.link_ports}
        worker_ledger = None
        if "db" in self.link_ports:
            worker_ledger = postgres_url(
                self.link_ports["db"], LEDGER_DATABASE, password=self.postgres_password
            )

        def url(name: str, ports: dict[str, int]) -> str:
            return f"http://127.0.0.1:{ports[name]}"

        config = StackConfig(
            temporal_address=f"127.0.0.1:{self.temporal_port}",
            api_port=ports["api"],
            urls=ServiceUrls(url("provider", dial), url("fraud", dial), url("notify", dial)),
            admin_urls=ServiceUrls(
                url("provider", upstream), url("fraud", upstream), url("notify", upstream)
            ),
            worker_temporal_address=f"127.0.0.1:{dial['temporal']}",
            callback_url=f"{url('callbacks', dial)}/webhooks/gateway",
            toxiproxy_api=f"http://127.0.0.1:{self.toxiproxy_port}"
            if self.toxiproxy_port
            else None,
            prometheus_url=self.prometheus_url,
            worker_versioning=self.options.worker_versioning,
            harness_seams=True,
            webhook_secret=secrets.token_hex(32),
            payment_id_secret=secrets.token_hex(32),
            ledger_path=self.ledger_location,
            worker_ledger_path=worker_ledger,
            api_keys_path=str(self.state_dir / "api-keys.json"),
            state_dir=str(self.state_dir),
            saga=self.options.saga,
            rate_limit_per_s=self.options.rate_limit_per_s,
            rate_limit_burst=self.options.rate_limit_burst,
        )
        write_config(config, self.config_path)
        # Keys of an earlier run die with it.
        Path(config.api_keys_path).unlink(missing_ok=True)
        credentials_path(config.api_keys_path).unlink(missing_ok=True)
        self.api_keys.update(seed_demo(config))
        return config

    def _temporal(self) -> ManagedProcess:
        metrics_port = free_port()
        self.targets.set("temporal", ("temporal-server", f"127.0.0.1:{metrics_port}"))
        argv = [
            require("temporal"),
            "server",
            "start-dev",
            "--db-filename",
            str(self.state_dir / "temporal.db"),
            "--ip",
            "127.0.0.1",
            "--port",
            str(self.temporal_port),
            "--http-port",
            str(free_port()),
            "--metrics-port",
            str(metrics_port),
            "--sqlite-pragma",
            "journal_mode=wal",
            "--sqlite-pragma",
            "synchronous=normal",
            # One partition: no 4-11 s wait for the first task on a fresh queue (DESIGN.md).
            "--dynamic-config-value",
            "matching.numTaskqueueReadPartitions=1",
            "--dynamic-config-value",
            "matching.numTaskqueueWritePartitions=1",
            # The charge runs on the payments queue: hand it to the worker with the workflow
            # task's completion instead of a round trip through matching.
            "--dynamic-config-value",
            "system.enableActivityEagerExecution=true",
            "--dynamic-config-value",
            f'history.timerProcessorMaxTimeShift="{TIMER_SHIFT}"',
            "--dynamic-config-value",
            f"history.hostLevelCacheMaxSize={HISTORY_CACHE_ENTRIES}",
            "--search-attribute",
            "PaymentStatus=Keyword",
            "--namespace",
            BENCH_NAMESPACE,
            "--log-level",
            "warn",
        ]
        argv += ["--ui-port", str(self.ui_port)] if self.ui_port else ["--headless"]
        return ManagedProcess(
            "temporal", argv, self._log("temporal"), lambda: port_open(self.temporal_port)
        )

    def _start_cluster(self, config: StackConfig) -> None:
        """The Temporal services on PostgreSQL, ready, with the namespaces registered."""
        assert self.postgres_port is not None
        try:
            cluster.setup_schema(self.postgres_port, self.postgres_password)
            root = self.state_dir / "temporal"
            ports = cluster.service_ports(self.temporal_port)
            cluster.write_configs(
                root, self.postgres_port, self.postgres_password, ports, CLUSTER_DYNAMIC_CONFIG
            )
            processes: list[ManagedProcess] = []
            for name, service in ports.items():
                log = self._log(f"temporal-{name}")
                process = cluster.service_process(root, name, service, log)
                self.processes[process.name] = process
                metrics = f"127.0.0.1:{service.metrics}"
                self.targets.set(process.name, ("temporal-server", metrics))
                processes.append(process)
            # The first service to start writes the cluster's metadata; started together, the
            # others would race it for the same row and exit.
            first, *rest = processes
            first.start(120)
            for process in rest:
                process.launch()
            for process in rest:
                process.wait_ready(120)
            # `temporal` names every service at once, as it names the dev server.
            self.processes["temporal"] = ProcessGroup("temporal", processes)
            asyncio.run(register_namespaces(config, (config.namespace, BENCH_NAMESPACE)))
        except BaseException:
            self.stop()
            raise

    def _start_postgres(self) -> None:
        pg = init_cluster()
        self.postgres_data = pg.data
        self.postgres_password = pg.password
        port = free_port()
        process = self.processes["postgres"] = server_process(pg, port, self._log("postgres"))
        try:
            process.start()
        except BaseException:
            self.stop()
            raise
        self.postgres_port = port
        self.ledger_location = create_database(port, LEDGER_DATABASE, pg.password)

    def _log(self, name: str) -> Path:
        return self.state_dir / "logs" / f"{name}.log"

    def _python(
        self, name: str, module: str, *args: str, ready: Callable[[], bool], log: str | None = None
    ) -> ManagedProcess:
        argv = [sys.executable, "-m", module, *args]
        return ManagedProcess(name, argv, self._log(log or name), ready)

    def _worker(self, config: StackConfig, name: str, build: str) -> ManagedProcess:
        role = self.workers[name]
        ready = ready_file(config, name, build)
        ready.unlink(missing_ok=True)
        metrics, sdk_metrics = free_port(), free_port()
        self.targets.set(
            name, ("worker", f"127.0.0.1:{metrics}"), ("temporal-sdk", f"127.0.0.1:{sdk_metrics}")
        )
        return self._python(
            name,
            *self.options.worker_entry,
            role,
            "--config",
            str(self.config_path),
            "--build",
            build,
            "--name",
            name,
            "--metrics-port",
            str(metrics),
            "--sdk-metrics-port",
            str(sdk_metrics),
            ready=ready.exists,
            log=f"{name}@{build}",
        )

    def _prometheus(self) -> ManagedProcess:
        assert self.prometheus_binary and self.prometheus_port
        home = self.state_dir / "prometheus"
        home.mkdir(parents=True, exist_ok=True)
        config_file = home / "prometheus.yml"
        config_file.write_text(prometheus.config_yaml(self.targets.path))
        self.targets.set("prometheus", ("prometheus", f"127.0.0.1:{self.prometheus_port}"))
        return ManagedProcess(
            "prometheus",
            prometheus.argv(
                self.prometheus_binary, config_file, home / "data", self.prometheus_port
            ),
            self._log("prometheus"),
            http_ok(f"{self.prometheus_url}/-/ready"),
        )

    def start(self) -> StackConfig:
        """Start everything, in dependency order; on failure stop what started and raise."""
        compile_project()
        cluster = self.options.backend == "cluster"
        if self.options.ledger == "postgres" or cluster:
            self._start_postgres()
        config = self.config = self._prepare()
        if cluster:
            self._start_cluster(config)
        cfg = str(self.config_path)
        if self.toxiproxy_server and self.toxiproxy_port:
            self._start_links(config)
        admin = config.admin_urls
        self.add_scrape_target("harness", "chaos", serve_owner_metrics())
        self.targets.set("api", ("api", f"127.0.0.1:{config.api_port}"))
        urls = {
            "sim-provider": admin.provider,
            "sim-fraud": admin.fraud,
            "sim-notify": admin.notify,
        }
        knobs = {
            "sim-provider": self.options.provider_knobs,
            "sim-fraud": self.options.fraud_knobs,
            "sim-notify": self.options.notify_knobs,
        }
        simulators = [
            (name, module, urls[name], knobs[name]) for name, module in SIMULATOR_MODULES.items()
        ]
        for name, _, url, _ in simulators:
            self.targets.set(name, ("simulator", _hostport(url)))
        specs = [
            *([] if cluster else [self._temporal()]),
            *(
                self._python(
                    name,
                    module,
                    "--port",
                    _port(url),
                    "--config",
                    cfg,
                    "--knobs",
                    sim_knobs,
                    ready=http_ok(f"{url}/health"),
                )
                for name, module, url, sim_knobs in simulators
            ),
            self._python(
                "api",
                "orchestrator.api.app",
                "--config",
                cfg,
                ready=http_ok(f"{config.api_url}/health"),
            ),
            *(self._worker(config, name, self.build) for name in self.workers),
            *([self._prometheus()] if self.prometheus_binary else []),
        ]
        try:
            # Launch all at once (imports dominate start-up), then wait for each to be ready.
            for process in specs:
                if process.name in self.processes:
                    raise StackError(f"two processes named {process.name!r}")
                self.processes[process.name] = process
                process.launch()
            for process in specs:
                process.wait_ready()
            if config.worker_versioning:
                asyncio.run(set_current_version(config, DEPLOYMENT_NAME, self.build))
        except BaseException:
            self.stop()
            raise
        self.write_process_table()
        return config

    @property
    def process_table_path(self) -> Path:
        """``<state>/processes.json``: process name -> PID, for people and tools."""
        return Path(self.state_dir) / "processes.json"

    def write_process_table(self) -> None:
        """Record every running process's PID (after a start or a restart)."""
        table = process_pids(self.processes)
        self.process_table_path.write_text(json.dumps(table, indent=2) + "\n")

    def deploy(self, build: str, drain_s: float = 2.0, *, force: bool = False) -> None:
        """Roll out a build: start its workers, make it current, let the old one drain, stop it.

        Needs ``worker_versioning``: the server then routes each workflow task by the workflow's
        versioning behaviour (AUTO_UPGRADE payments move to the new build, PINNED fraud checks
        finish on the old one, hence the drain). A rollback to an older build is refused while
        payments started on a later one are open (they would fail every workflow task with
        non-determinism), unless ``force``.
        """
        config = self.config
        assert config is not None
        if not config.worker_versioning:
            raise StackError("a rolling deploy needs a stack started with worker_versioning")
        if build not in BUILDS:
            raise StackError(f"no build {build!r} (known: {', '.join(BUILDS)})")
        later = list(BUILDS)[list(BUILDS).index(build) + 1 :]
        stranded = asyncio.run(stranded_by_rollback(config, DEPLOYMENT_NAME, later))
        if stranded and not force:
            raise StackError(
                f"refusing to roll back to {build}: {stranded} payment(s) started on"
                f" {', '.join(later)} are still open, and {build} cannot replay their histories"
                " (docs/upgrades.md, Rolling back). Let them finish, pin them, or force it."
            )
        new = {name: self._worker(config, name, build) for name in self.workers}
        try:
            for process in new.values():
                process.launch()
            for process in new.values():
                process.wait_ready()
            asyncio.run(set_current_version(config, DEPLOYMENT_NAME, build))
        except BaseException:
            for process in new.values():
                process.stop()
            raise
        time.sleep(drain_s)
        for name, process in new.items():
            self.processes[name].stop()
            self.processes[name] = process
        self.build = build

    def restart(self, name: str, env: Mapping[str, str] | None = None) -> None:
        """Stop one process and start it again with the same command line and ports, with
        ``env`` added to its environment (until its next restart)."""
        process = self.processes[name]
        if env is not None and not isinstance(process, ManagedProcess):
            raise StackError(f"{name} is a group of processes: it takes no environment of its own")
        process.stop()
        if isinstance(process, ManagedProcess):
            process.env = dict(env) if env else None
        CHAOS_PROCESS_RESTARTS.labels(name).inc()
        if name in self.workers and self.config is not None:
            ready_file(self.config, name, self.build).unlink(missing_ok=True)
        process.start()
        self.write_process_table()

    def apply_saga(self, options: SagaOptions) -> None:
        """New saga settings in the config, read by a restarted API."""
        assert self.config is not None
        self.config.saga = options
        write_config(self.config, self.config_path)
        self.restart("api")

    def _start_links(self, config: StackConfig) -> None:
        assert self.toxiproxy_server and self.toxiproxy_port
        api = f"http://127.0.0.1:{self.toxiproxy_port}"
        argv = [self.toxiproxy_server, "-host", "127.0.0.1", "-port", str(self.toxiproxy_port)]
        process = ManagedProcess(
            "toxiproxy",
            [*argv, "-proxy-metrics", "-runtime-metrics"],
            self._log("toxiproxy"),
            http_ok(f"{api}/version"),
        )
        self.processes["toxiproxy"] = process
        self.targets.set("toxiproxy", ("toxiproxy", f"127.0.0.1:{self.toxiproxy_port}"))
        try:
            process.start()
            self.links = Links("127.0.0.1", self.toxiproxy_port)
            self._create_links(config)
        except BaseException:
            self.stop()
            raise

    def _create_links(self, config: StackConfig) -> None:
        assert self.links is not None
        upstreams = {
            "temporal": config.temporal_address,
            "provider": _hostport(config.admin_urls.provider),
            "callbacks": f"127.0.0.1:{config.api_port}",
            "fraud": _hostport(config.admin_urls.fraud),
            "notify": _hostport(config.admin_urls.notify),
        }
        if self.postgres_port is not None:
            upstreams["db"] = f"127.0.0.1:{self.postgres_port}"
        for link, port in self.link_ports.items():
            self.links.create(link, port, upstreams[link])

    def stop(self) -> None:
        """Stop every process, newest first (PostgreSQL, started first, last); delete the
        PostgreSQL cluster, which lives outside the state directory."""
        for process in reversed(list(self.processes.values())):
            process.stop()
        self.processes.clear()
        if self.postgres_data is not None:
            shutil.rmtree(self.postgres_data, ignore_errors=True)
            self.postgres_data = None

    def __enter__(self) -> EmbeddedStack:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def compile_project() -> None:
    """Write bytecode for the project's packages (only files changed since the last time).

    With ``PYTHONDONTWRITEBYTECODE`` set (it is on some machines), nothing is cached: every
    process compiles its imports at start, and the workflow sandbox, which re-imports the
    workflow module for every new workflow run, compiled ``payment.py`` on each one (12% of the
    payments worker's CPU under load). Reading existing bytecode is still allowed.
    """
    root = Path(__file__).resolve().parents[1]
    for package in PROJECT_PACKAGES:
        compileall.compile_dir(root / package, quiet=1, workers=1)


def _hostport(url: str) -> str:
    return url.split("://", 1)[1]


def _port(url: str) -> str:
    return url.rsplit(":", 1)[1]
