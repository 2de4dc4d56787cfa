"""A docker-compose deployment (``docker-compose.yml``) as the harness sees it: the fault driver.

``saga scenario run NAME --compose [DIR]`` and ``saga load ... --compose [DIR]`` attack the
deployment ``docker compose up`` runs from ``DIR`` (default: this checkout). What each fault
becomes (:class:`ComposeCommands` builds every command line; the unit tests check them):

==================  =======================================================================
fault               on compose
==================  =======================================================================
process kill        ``docker compose kill -s SIGKILL SERVICE``; after the window
                    ``docker compose up -d --no-deps SERVICE``, then waits until docker
                    reports it healthy (or running, without a healthcheck)
process restart     ``docker compose restart SERVICE``, then the same wait
process pause       ``docker compose pause SERVICE``; after the window ``unpause``
link faults         the compose Toxiproxy's API, published on 127.0.0.1:8474
ledger unavailable  the ledger's writer lock, on the ``postgres`` service (published on
                    127.0.0.1:5432)
knobs               the simulators' admin APIs (published on 127.0.0.1:8001-8003)
workflow faults     Temporal's frontend (published on 127.0.0.1:7233)
==================  =======================================================================

Not on compose (refused before the run, naming the fault): ledger ``slow`` failpoints and
partial toxics (a deployment honours neither file: the harness seams are off), and ``upgrade``
(compose runs one build, without worker versioning).

Compose is ``docker compose`` (v2) where that plugin answers, else ``docker-compose`` (Debian's
1.29); every command runs in ``DIR``, so compose picks its files as it would for a person there
(``COMPOSE_FILE`` in ``.env``, as ``make compose-up`` writes it for the local images). Container
states, host PIDs and health come from ``docker inspect``, which both report the same way.

The harness reads the deployment through ``compose/harness.json`` (the host's view of the
addresses; the secrets from the environment, else from ``DIR/.env`` as compose reads them),
opens its scenario users with ``docker compose exec api python -m runtime.seed --user ...``, and
puts back what a run changed: the saga settings (``compose/config.json``, read by the restarted
``api``) and the simulators' knobs.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import msgspec

from orchestrator.config import StackConfig, load_config
from orchestrator.models import SagaOptions
from orchestrator.secrets import TOXIPROXY_TOKEN_ENV, secret_from_env
from runtime.admin_client import put_back_knobs, read_knobs
from runtime.attached import ExitedProcess
from runtime.errors import StackError
from runtime.links import Links
from runtime.process_names import PROCESS_NAMES

#: Runs a command line, returns its stdout; raises :class:`StackError` when it fails.
Run = Callable[[Sequence[str]], str]
#: The config the containers read, and the host's view of the same deployment.
CONTAINER_CONFIG = Path("compose/config.json")
HARNESS_CONFIG = Path("compose/harness.json")
#: The build compose runs (``orchestrator.workflows.builds``).
COMPOSE_BUILD = "v2"
#: How long a service restarted after a fault may take to be healthy again.
HEALTHY_WITHIN_S = 180.0


def run_command(argv: Sequence[str], cwd: Path | None = None) -> str:
    """Run ``argv`` (in ``cwd``); its stdout, or :class:`StackError` with its stderr."""
    try:
        done = subprocess.run(
            list(argv), capture_output=True, text=True, timeout=180, check=False, cwd=cwd
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise StackError(f"{' '.join(argv)}: {exc}") from exc
    if done.returncode != 0:
        raise StackError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


def compose_program() -> tuple[str, ...]:
    """``docker compose`` where the v2 plugin answers, else ``docker-compose`` (v1)."""
    try:
        plugin = subprocess.run(
            ["docker", "compose", "version"], capture_output=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        plugin = None
    if plugin is not None and plugin.returncode == 0:
        return ("docker", "compose")
    if shutil.which("docker-compose"):
        return ("docker-compose",)
    raise StackError(
        "neither `docker compose` nor `docker-compose` runs here: install Docker Compose"
        " (Debian: apt-get install docker-compose), see docs/deployment.md"
    )


def read_dotenv(path: Path) -> dict[str, str]:
    """``KEY=VALUE`` lines of a compose ``.env`` file (comments and blank lines skipped, one
    level of quotes removed); empty when there is no file."""
    found = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            key, sep, value = line.strip().partition("=")
            if sep and key and not key.startswith("#"):
                found[key.strip()] = value.strip().strip("'\"")
    return found


def take_dotenv(path: Path) -> None:
    """What compose reads from the project's ``.env``, for the harness too (the environment
    wins, as with compose): the app's secrets, and the ledger's password as libpq reads it."""
    for key, value in read_dotenv(path).items():
        os.environ.setdefault(key, value)
    if "LEDGER_PASSWORD" in os.environ:  # compose/harness.json reads the ledger as `ledger`
        os.environ.setdefault("PGPASSWORD", os.environ["LEDGER_PASSWORD"])


@dataclass(frozen=True)
class ComposeCommands:
    """The compose command lines of one project, run in its directory."""

    program: tuple[str, ...] = ("docker", "compose")
    docker: str = "docker"

    def base(self) -> list[str]:
        """Compose itself (the directory the commands run in picks the project)."""
        return list(self.program)

    def ps(self) -> list[str]:
        """Every service's container id, stopped ones too."""
        return [*self.base(), "ps", "-a", "-q"]

    def kill(self, service: str, sig: str = "SIGKILL") -> list[str]:
        """Send ``sig`` to the service's containers."""
        return [*self.base(), "kill", "-s", sig, service]

    def pause(self, service: str) -> list[str]:
        """Freeze the service's containers."""
        return [*self.base(), "pause", service]

    def unpause(self, service: str) -> list[str]:
        """Thaw them."""
        return [*self.base(), "unpause", service]

    def restart(self, service: str) -> list[str]:
        """Stop and start them (a clean stop: SIGTERM first)."""
        return [*self.base(), "restart", service]

    def up(self, service: str) -> list[str]:
        """Start the service if it is down (its dependencies as they are)."""
        return [*self.base(), "up", "-d", "--no-deps", service]

    def exec(self, service: str, *argv: str) -> list[str]:
        """Run a command in the service's container, without a TTY."""
        return [*self.base(), "exec", "-T", service, *argv]

    def run(
        self,
        service: str,
        args: Sequence[str],
        env: Mapping[str, str],
        mounts: Mapping[str, str],
    ) -> list[str]:
        """A one-off container of ``service`` with ``args`` as its command (no dependencies
        started, no TTY, removed after), ``env`` set and ``mounts`` (host: container) added."""
        argv = [*self.base(), "run", "--rm", "--no-deps", "-T"]
        for host, container in mounts.items():
            argv += ["-v", f"{host}:{container}"]
        for name, value in env.items():
            argv += ["-e", f"{name}={value}"]
        return [*argv, service, *args]

    def inspect(self, containers: Sequence[str]) -> list[str]:
        """The containers' state, labels and main process as docker reports them (JSON)."""
        return [self.docker, "inspect", *containers]


@dataclass
class ComposeService:
    """One compose service, acted on by name; its state read from ``docker compose ps``."""

    name: str
    stack: ComposeStack
    state: str = "running"
    container: str = ""
    exit_code: int | None = None
    pid: int | None = None
    health: str | None = None
    """docker's health status (``starting``, ``healthy``, ``unhealthy``); None: no healthcheck."""

    @property
    def running(self) -> bool:
        """Whether its container is up (paused counts, as a stopped process is alive)."""
        return self.state in ("running", "paused")

    @property
    def paused(self) -> bool:
        """Whether its container is frozen (``docker compose pause``)."""
        return self.state == "paused"

    @property
    def popen(self) -> ExitedProcess:
        """Its exit, once it ended: docker's 128+N for a signal is -N, as for a process."""
        code = None if self.running else self.exit_code
        return ExitedProcess(-(code - 128) if code is not None and code > 128 else code)

    def signal(self, sig: signal.Signals) -> None:
        """KILL and TERM: ``docker compose kill -s``; STOP: ``pause``; CONT: ``unpause`` when
        it is paused (a no-op otherwise, as for a process)."""
        commands = self.stack.commands
        if sig == signal.SIGSTOP:
            self.stack._run(commands.pause(self.name))
        elif sig == signal.SIGCONT:
            if not self.paused:
                return
            self.stack._run(commands.unpause(self.name))
        else:
            self.stack._run(commands.kill(self.name, sig.name))
        self.stack.refresh()


@dataclass
class ComposeStack:
    """The compose deployment in ``project_dir``, run by ``docker compose``."""

    project_dir: Path
    run: Run | None = None
    """Runs a command in the project's directory (default: :func:`run_command` there)."""
    commands: ComposeCommands = field(default_factory=lambda: ComposeCommands(compose_program()))
    config: StackConfig = field(init=False)
    state_dir: Path = field(init=False)
    processes: dict[str, ComposeService] = field(default_factory=dict)
    api_keys: dict[str, str] = field(default_factory=dict)
    links: Links | None = None
    build: str = COMPOSE_BUILD
    ui_url: str | None = "http://127.0.0.1:8080"
    _found: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.project_dir = self.project_dir.resolve()
        if self.run is None:
            self.run = partial(run_command, cwd=self.project_dir)
        take_dotenv(self.project_dir / ".env")
        self.config = load_config(self.config_path)
        self.state_dir = Path(tempfile.mkdtemp(prefix="saga-compose-"))
        self.config.state_dir = str(self.state_dir)  # the harness's own files (k6 output)
        if self.config.toxiproxy_api:
            api = httpx.URL(self.config.toxiproxy_api)
            token = secret_from_env(TOXIPROXY_TOKEN_ENV, os.environ)  # from .env, above
            self.links = Links(api.host, api.port or 80, token)
        self.refresh()
        if not self.processes:
            raise StackError(
                f"no compose services running in {self.project_dir}: `docker compose up -d`"
                " there first (docs/harness.md#attack-a-docker-compose-deployment)"
            )
        keys = self._run(self.commands.exec("api", "cat", "/data/credentials.json"))
        self.api_keys.update(json.loads(keys))
        self._found = {
            "saga": self._container_config().get("saga"),
            "knobs": {url: read_knobs(url) for url in self._admin_urls},
        }

    @property
    def config_path(self) -> Path:
        """The harness's view of the deployment (``compose/harness.json``)."""
        return self.project_dir / HARNESS_CONFIG

    @property
    def prometheus_url(self) -> str | None:
        """The compose Prometheus, published on the host."""
        return self.config.prometheus_url

    @property
    def _admin_urls(self) -> list[str]:
        urls = self.config.admin_urls
        return [urls.provider, urls.fraud, urls.notify]

    def _run(self, argv: Sequence[str]) -> str:
        assert self.run is not None
        return self.run(argv)

    def refresh(self) -> None:
        """Read every fault target's container state, health and host PID from docker."""
        ids = self._run(self.commands.ps()).split()
        seen: dict[str, ComposeService] = {}
        for container in json.loads(self._run(self.commands.inspect(ids))) if ids else []:
            name = container["Config"]["Labels"].get("com.docker.compose.service", "")
            if name not in PROCESS_NAMES:
                continue  # Toxiproxy, Prometheus, Grafana, the UI, init: never targets
            state = container["State"]
            seen[name] = ComposeService(
                name,
                self,
                str(state["Status"]).lower(),
                container["Id"],
                state.get("ExitCode"),
                state.get("Pid") or None,
                (state.get("Health") or {}).get("Status"),
            )
        self.processes = seen

    def restart(self, name: str, env: Mapping[str, str] | None = None) -> None:
        """Restart a service (a killed one is started) and wait until it is healthy."""
        if env:
            raise StackError(f"{name}: a service's environment is the compose file's")
        if self.processes[name].running:
            self._run(self.commands.restart(name))
        self._run(self.commands.up(name))
        self.wait_healthy(name)

    def wait_healthy(self, name: str, within_s: float = HEALTHY_WITHIN_S) -> None:
        """Until docker reports the service healthy (running, if it has no healthcheck)."""
        deadline = time.monotonic() + within_s
        while True:
            self.refresh()
            service = self.processes.get(name)
            if service and service.state == "running" and service.health in (None, "healthy"):
                return
            if time.monotonic() > deadline:
                found = f"{service.state}, {service.health}" if service else "no container"
                raise StackError(f"{name} not healthy {within_s:.0f}s after its start ({found})")
            time.sleep(0.5)

    def deploy(self, build: str, drain_s: float = 2.0, *, force: bool = False) -> None:
        """Compose runs one build, without worker versioning."""
        raise StackError(f"compose runs build {COMPOSE_BUILD} only: no rolling upgrade to {build}")

    def _container_config(self) -> dict[str, Any]:
        found: dict[str, Any] = json.loads((self.project_dir / CONTAINER_CONFIG).read_text())
        return found

    def apply_saga(self, options: SagaOptions) -> None:
        """Write the settings into ``compose/config.json`` (bind-mounted into every container)
        and restart the ``api`` service, which reads them at start."""
        self._write_saga(msgspec.to_builtins(options))
        self.config.saga = options
        self.restart("api")

    def _write_saga(self, saga: dict[str, Any] | None) -> None:
        """``saga`` into the containers' config (None: the key removed, the defaults apply)."""
        container = self._container_config()
        container.pop("saga", None)
        if saga is not None:
            container["saga"] = saga
        (self.project_dir / CONTAINER_CONFIG).write_text(json.dumps(container, indent=2) + "\n")

    def add_account(
        self,
        config: StackConfig,
        user: str,
        balance: int,
        *,
        active: bool = True,
        methods: tuple[str, ...] | None = None,
    ) -> str:
        """Open the account and issue its key inside the deployment (its ledger and key table)."""
        argv = ["python", "-m", "runtime.seed", "--config", "/config/config.json"]
        argv += ["--user", user, "--balance", str(balance)]
        argv += [] if active else ["--inactive"]
        argv += ["--methods", ",".join(methods)] if methods else []
        key: str = json.loads(self._run(self.commands.exec("api", *argv)))[user]
        self.api_keys[user] = key
        return key

    def stop(self) -> None:
        """Put back what runs changed: the saga settings (restarting ``api``) and the knobs,
        and remove the harness's own files. The deployment keeps running."""
        try:
            if self._container_config().get("saga") != self._found["saga"]:
                self._write_saga(self._found["saga"])
                self.restart("api")
            put_back_knobs(self._found["knobs"])
        finally:
            shutil.rmtree(self.state_dir, ignore_errors=True)
