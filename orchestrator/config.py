"""Deployment configuration shared by every process of one stack.

The embedded stack writes one ``config.json`` into its state directory; each process (API,
workers, simulators) reads it with :func:`load_config`. Saga tunables (callback timeout, retry
policy, limits) live in :class:`~orchestrator.models.SagaOptions` and travel into each workflow
as part of its input, so a running workflow never reads configuration from outside its history.
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from orchestrator.errors import ConfigError
from orchestrator.models import SagaOptions
from orchestrator.private_files import write_private

PAYMENT_METHODS = ("card", "bank_transfer", "wallet")


class Base(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Strict base: unknown keys in a config file are errors."""


class ServiceUrls(Base):
    """Base URLs of the simulators."""

    provider: str
    fraud: str
    notify: str


class StackConfig(Base, kw_only=True):
    """Everything a process of one stack needs to find the others."""

    temporal_address: str
    namespace: str = "default"
    api_host: str = "127.0.0.1"
    api_port: int
    urls: ServiceUrls
    """What the workers call: through Toxiproxy's links when the stack has them."""
    admin_urls: ServiceUrls
    """Direct addresses, for knobs and evidence: never through a fault."""
    worker_temporal_address: str
    """What the workers dial: the ``temporal`` link when the stack has Toxiproxy."""
    callback_url: str
    """Where the provider posts its callbacks: the ``callbacks`` link or the API."""
    toxiproxy_api: str | None = None
    prometheus_url: str | None = None
    """Prometheus, when the stack runs one: k6 remote-writes to it, reports query it."""
    worker_versioning: bool = False
    """Workers join the Worker Deployment ``payment-saga`` with their build id."""
    webhook_secret: str
    ledger_path: str
    api_keys_path: str
    state_dir: str
    saga: SagaOptions = msgspec.field(default_factory=SagaOptions)
    mutant: str | None = None
    """A saga mutant the payments worker runs instead of ``PaymentWorkflow`` (harness only, see
    ``orchestrator.workflows.mutants``); None in every real deployment."""

    @property
    def api_url(self) -> str:
        """Base URL of the Litestar API."""
        return f"http://{self.api_host}:{self.api_port}"


def load_config(path: str | Path) -> StackConfig:
    """Read and validate a stack config file; errors name the file and the field path."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config: {exc.strerror}") from exc
    try:
        return msgspec.json.decode(raw, type=StackConfig)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    except msgspec.DecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON: {exc}") from exc


def write_config(config: StackConfig, path: str | Path) -> None:
    """Write a stack config file atomically, mode 0600 (it holds the webhook secret)."""
    write_private(Path(path), msgspec.json.format(msgspec.json.encode(config)))
