"""What the harness needs of a running stack, whoever runs it.

:class:`~runtime.embedded.EmbeddedStack` (the harness started it) and
:class:`~runtime.attached.AttachedStack` (``saga up`` runs it in another terminal) both offer
this; the scenario runner, the fault injector, the steady-state check and ``saga load`` use
nothing else.
"""

from __future__ import annotations

import signal
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from orchestrator.config import StackConfig
from orchestrator.models import SagaOptions
from runtime.links import Links


class ProcessView(Protocol):
    """One process of the stack."""

    @property
    def pid(self) -> int | None:
        """Its process id while it runs."""

    @property
    def running(self) -> bool:
        """Whether it is alive."""

    @property
    def popen(self) -> Any:
        """Its exit, once it ended: ``returncode`` and ``wait()``."""

    def signal(self, sig: signal.Signals) -> None:
        """Send ``sig`` to its process group."""


class RunningStack(Protocol):
    """A running stack."""

    @property
    def config(self) -> StackConfig | None:
        """Its config (None before it started)."""

    @property
    def config_path(self) -> Path:
        """Where the config lives; the API reads the saga settings from it at start."""

    @property
    def state_dir(self) -> Path:
        """Its state directory."""

    @property
    def processes(self) -> Mapping[str, ProcessView]:
        """Its processes by name (``runtime.process_names``)."""

    @property
    def build(self) -> str:
        """The worker build that is current."""

    @property
    def links(self) -> Links | None:
        """Its Toxiproxy links, if it runs Toxiproxy."""

    @property
    def api_keys(self) -> dict[str, str]:
        """API keys by user."""

    @property
    def prometheus_url(self) -> str | None:
        """Its Prometheus, if it runs one."""

    def restart(self, name: str, env: Mapping[str, str] | None = None) -> None:
        """Restart one process (ready when this returns); ``env``: variables added to its
        environment until its next restart (stacks that start their own processes only)."""

    def apply_saga(self, options: SagaOptions) -> None:
        """Make ``options`` the saga settings of payments created from now on (they travel in
        each workflow's input, chosen by the API at start: the API restarts to read them)."""

    def deploy(self, build: str, drain_s: float = 2.0, *, force: bool = False) -> None:
        """Roll out a worker build (``force``: even a rollback that strands open payments)."""

    def add_account(
        self,
        config: StackConfig,
        user: str,
        balance: int,
        *,
        active: bool = True,
        methods: tuple[str, ...] | None = None,
    ) -> str:
        """Open an account and issue its API key."""
