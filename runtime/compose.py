"""A docker-compose deployment (``docker-compose.yml``) as the harness sees it: the fault driver.

``saga scenario run NAME --compose [DIR]`` and ``saga load ... --compose [DIR]`` attack the
deployment ``docker compose up`` runs from ``DIR`` (default: this checkout). What each fault
becomes (:class:`ComposeCommands` builds every command line; the unit tests check them):

==================  =======================================================================
fault               on compose
==================  =======================================================================
process kill        ``docker compose kill -s SIGKILL SERVICE``; after the window
                    ``docker compose up -d --no-deps --wait SERVICE`` (started, healthy)
process restart     ``docker compose restart SERVICE``, then the same ``up --wait``
process pause       ``docker compose pause SERVICE``; after the window ``unpause``
link faults         the compose Toxiproxy's API, published on 127.0.0.1:8474
ledger unavailable  the ledger's writer lock, on the ``postgres`` service (published on
                    127.0.0.1:5432)
knobs               the simulators' admin APIs (published on 127.0.0.1:8001-8003)
workflow faults     Temporal's frontend (published on 127.0.0.1:7233)
==================  =======================================================================

Not on compose (refused before the run, naming the fault): ledger ``slow`` failpoints and
partial toxics (their tables are files in the ``saga-data`` volume, which the harness cannot
write from the host), and ``upgrade`` (compose runs one build, without worker versioning).

The harness reads the deployment through ``compose/harness.json`` (the host's view of the
addresses; the secrets come from the environment, as ``.env`` gives them to compose), opens its
scenario users with ``docker compose exec api python -m runtime.seed --user ...``, and puts back
what a run changed: the saga settings (``compose/config.json``, read by the restarted ``api``)
and the simulators' knobs.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import msgspec

from orchestrator.config import StackConfig, load_config
from orchestrator.models import SagaOptions
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


def run_command(argv: Sequence[str]) -> str:
    """Run ``argv``; its stdout, or :class:`StackError` with its stderr."""
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, timeout=180, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise StackError(f"{' '.join(argv)}: {exc}") from exc
    if done.returncode != 0:
        raise StackError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


@dataclass(frozen=True)
class ComposeCommands:
    """The ``docker compose`` command lines of one project."""

    project_dir: Path
    files: tuple[str, ...] = ("docker-compose.yml",)
    docker: str = "docker"

    def base(self) -> list[str]:
        """``docker compose`` pointed at the project."""
        argv = [self.docker, "compose", "--project-directory", str(self.project_dir)]
        for name in self.files:
            argv += ["-f", str(self.project_dir / name)]
        return argv

    def ps(self) -> list[str]:
        """Every service's container, stopped ones too, as JSON."""
        return [*self.base(), "ps", "--all", "--format", "json"]

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
        """Start the service if it is down, and wait until it is healthy."""
        return [*self.base(), "up", "-d", "--no-deps", "--wait", service]

    def exec(self, service: str, *argv: str) -> list[str]:
        """Run a command in the service's container, without a TTY."""
        return [*self.base(), "exec", "-T", service, *argv]

    def inspect_pid(self, container: str) -> list[str]:
        """The container's main process id, as the host sees it."""
        return [self.docker, "inspect", "--format", "{{.State.Pid}}", container]


@dataclass
class ComposeService:
    """One compose service, acted on by name; its state read from ``docker compose ps``."""

    name: str
    stack: ComposeStack
    state: str = "running"
    container: str = ""
    exit_code: int | None = None
    pid: int | None = None

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
            self.stack.run(commands.pause(self.name))
        elif sig == signal.SIGCONT:
            if not self.paused:
                return
            self.stack.run(commands.unpause(self.name))
        else:
            self.stack.run(commands.kill(self.name, sig.name))
        self.stack.refresh()


@dataclass
class ComposeStack:
    """The compose deployment in ``project_dir``, run by ``docker compose``."""

    project_dir: Path
    run: Run = run_command
    commands: ComposeCommands = field(init=False)
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
        self.commands = ComposeCommands(self.project_dir)
        self.config = load_config(self.config_path)
        self.state_dir = Path(tempfile.mkdtemp(prefix="saga-compose-"))
        self.config.state_dir = str(self.state_dir)  # the harness's own files (k6 output)
        if self.config.toxiproxy_api:
            api = httpx.URL(self.config.toxiproxy_api)
            self.links = Links(api.host, api.port or 80)
        self.refresh()
        if not self.processes:
            raise StackError(
                f"no compose services running in {self.project_dir}: `docker compose up -d`"
                " there first (docs/harness.md#attack-a-docker-compose-deployment)"
            )
        keys = self.run(self.commands.exec("api", "cat", "/data/credentials.json"))
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

    def refresh(self) -> None:
        """Read every fault target's container state (and host PID) from docker."""
        seen: dict[str, ComposeService] = {}
        for line in self.run(self.commands.ps()).splitlines():
            if not line.strip():
                continue
            row = json.loads(line)
            name = row.get("Service", "")
            if name not in PROCESS_NAMES:
                continue  # Toxiproxy, Prometheus, Grafana, the UI, init: never targets
            state = str(row.get("State", "")).lower()
            service = seen[name] = ComposeService(
                name, self, state, str(row.get("ID", "")), row.get("ExitCode")
            )
            if service.running and service.container:
                service.pid = int(self.run(self.commands.inspect_pid(service.container)).strip())
        self.processes = seen

    def restart(self, name: str) -> None:
        """Restart a service (a killed one is started) and wait until it is healthy."""
        if self.processes[name].running:
            self.run(self.commands.restart(name))
        self.run(self.commands.up(name))
        self.refresh()

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
        key: str = json.loads(self.run(self.commands.exec("api", *argv)))[user]
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
