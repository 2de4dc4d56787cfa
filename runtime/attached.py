"""A stack another process runs (``saga up`` in another terminal), as the harness sees it.

:class:`AttachedStack` offers what the scenario runner, the fault injector and ``saga load`` use
of an :class:`~runtime.embedded.EmbeddedStack`: the config, the process table, restarts, signals
and deploys (through the owner's control endpoint, :mod:`runtime.control`), Toxiproxy, accounts
and API keys. It starts and stops nothing: :meth:`AttachedStack.stop` puts back what a run
changed (the saga settings in the config, with an API restart; the build; the simulators'
knobs), so the stack is left as it was found.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from orchestrator.api.auth import credentials_path
from orchestrator.config import StackConfig, load_config, write_config
from orchestrator.models import SagaOptions
from runtime.admin_client import put_back_knobs, read_knobs
from runtime.control import ControlClient
from runtime.errors import StackError
from runtime.links import Links
from runtime.seed import OpensAccounts


@dataclass
class ExitedProcess:
    """What a killed process's exit looks like to the fault checks (``popen.returncode``)."""

    returncode: int | None

    def wait(self, timeout: float | None = None) -> int | None:
        """Already waited for by the stack's owner."""
        return self.returncode


@dataclass
class RemoteProcess:
    """A child process of the stack's owner, acted on through its control endpoint."""

    name: str
    control: ControlClient
    pid: int | None
    running: bool
    popen: ExitedProcess | None = None

    def signal(self, sig: signal.Signals) -> None:
        """Have the owner send ``sig`` to the process group (a kill waits for the exit)."""
        answer = self.control.call(
            "POST", f"/processes/{self.name}/signal", {"signal": sig.name.removeprefix("SIG")}
        )
        self.running = bool(answer["running"])
        self.pid = answer["pid"] if self.running else None
        self.popen = ExitedProcess(answer["returncode"])


@dataclass
class AttachedStack(OpensAccounts):
    """The stack whose state directory is ``state_dir``, run by another process."""

    state_dir: Path
    control: ControlClient = field(init=False)
    config: StackConfig = field(init=False)
    api_keys: dict[str, str] = field(default_factory=dict)
    build: str = field(init=False)
    processes: dict[str, RemoteProcess] = field(default_factory=dict)
    prometheus_url: str | None = None
    ui_url: str | None = None
    links: Links | None = None
    _found: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.control = ControlClient.of(self.state_dir)
        self.config = load_config(self.config_path)
        self.api_keys.update(json.loads(credentials_path(self.config.api_keys_path).read_text()))
        if self.config.toxiproxy_api:
            api = httpx.URL(self.config.toxiproxy_api)
            self.links = Links(api.host, api.port or 80)
        self.refresh()
        self._found = {
            "saga": self.config.saga,
            "build": self.build,
            "knobs": {url: read_knobs(url) for url in self._admin_urls},
        }

    @property
    def config_path(self) -> Path:
        """The stack's config file."""
        return self.state_dir / "config.json"

    @property
    def _admin_urls(self) -> list[str]:
        urls = self.config.admin_urls
        return [urls.provider, urls.fraud, urls.notify]

    def refresh(self) -> None:
        """Read the build and the process table from the owner."""
        answer = self.control.call("GET", "/stack")
        self.build = answer["build"]
        self.prometheus_url = answer["prometheus_url"]
        self.ui_url = answer["ui_url"]
        self.processes = {
            name: RemoteProcess(name, self.control, p["pid"], p["running"])
            for name, p in answer["processes"].items()
        }

    def restart(self, name: str, env: Mapping[str, str] | None = None) -> None:
        """Have the owner restart one process (ready when this returns)."""
        if env:
            raise StackError(f"{name}: the stack's owner restarts it, with its own environment")
        self.control.call("POST", f"/processes/{name}/restart")
        self.refresh()

    def apply_saga(self, options: SagaOptions) -> None:
        """New saga settings in the stack's config, read by the API the owner restarts."""
        self.config.saga = options
        write_config(self.config, self.config_path)
        self.restart("api")

    def deploy(self, build: str, drain_s: float = 2.0, *, force: bool = False) -> None:
        """Have the owner roll out ``build`` (``force``: even a rollback that strands payments)."""
        self.control.call("POST", "/deploy", {"build": build, "drain_s": drain_s, "force": force})
        self.refresh()

    def stop(self) -> None:
        """Put back what runs changed: saga settings (and the API that reads them), the build,
        the simulators' knobs. The stack itself keeps running."""
        if self.config.saga != self._found["saga"]:
            self.apply_saga(self._found["saga"])
        if self.build != self._found["build"]:
            self.deploy(self._found["build"], drain_s=1.0)
        put_back_knobs(self._found["knobs"])

    def __enter__(self) -> AttachedStack:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
