"""Deployment configuration shared by every process of one stack.

The embedded stack writes one ``config.json`` into its state directory; each process (API,
workers, simulators) reads it with :func:`load_config`. Saga tunables (callback timeout, retry
policy, limits) live in :class:`~orchestrator.models.SagaOptions` and travel into each workflow
as part of its input, so a running workflow never reads configuration from outside its history.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import msgspec

from orchestrator.errors import ConfigError
from orchestrator.models import SagaOptions
from orchestrator.private_files import write_private
from orchestrator.secrets import ADMIN_TOKEN_ENV, GENERATE, secret_from_env, weakness

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
    harness_seams: bool = False
    """Honour the chaos harness's failpoints and partial links (:mod:`orchestrator.seams`): the
    embedded stack turns it on; off in every deployment."""
    webhook_secret: str = ""
    """Signs the provider's callbacks; the API accepts it and ``webhook_previous_secrets``.
    Overridden by ``$SAGA_WEBHOOK_SECRET`` (or ``$SAGA_WEBHOOK_SECRET_FILE``). Needed by the API
    and the provider only (:data:`NEEDS`)."""
    webhook_previous_secrets: list[str] = msgspec.field(default_factory=list)
    """Secrets the API still accepts while a rotation is under way
    (``$SAGA_WEBHOOK_PREVIOUS_SECRETS``, comma separated)."""
    payment_id_secret: str = ""
    """Keys the HMAC that turns (user, Idempotency-Key) into a payment id, so ids cannot be
    guessed from keys (``$SAGA_PAYMENT_ID_SECRET``). Needed by the API only."""
    admin_token: str = ""
    """Guards the simulators' admin and evidence endpoints (``$SAGA_ADMIN_TOKEN``): set in a
    deployment, where other services share their network; empty on the embedded stack, whose
    simulators listen on loopback only."""
    ledger_path: str
    """The ledger: a SQLite file path (the embedded default), or a ``postgresql://`` URL that
    account workers on several machines share."""
    worker_ledger_path: str | None = None
    """What the account workers open, when it differs from ``ledger_path``: the PostgreSQL URL
    through Toxiproxy's ``db`` link on the cluster backend, so scenarios can cut the account
    workers off their database while the harness still reads it directly."""
    api_keys_path: str
    state_dir: str
    saga: SagaOptions = msgspec.field(default_factory=SagaOptions)
    rate_limit_per_s: Annotated[float, msgspec.Meta(gt=0)] = 50.0
    """Requests per second each API key may make on average (a token bucket; 429 beyond it)."""
    rate_limit_burst: Annotated[int, msgspec.Meta(ge=1)] = 100
    """How many requests a key may make at once before the average applies."""
    anonymous_rate_limit_per_s: Annotated[float, msgspec.Meta(gt=0)] = 200.0
    """Requests per second each client address may make without an API key (the provider's
    signed callbacks, health, metrics, the schema): above any payment rate one provider sends."""
    anonymous_rate_limit_burst: Annotated[int, msgspec.Meta(ge=1)] = 400
    """How many such requests a client may make at once."""
    currencies: Annotated[
        list[Annotated[str, msgspec.Meta(pattern="^[A-Z]{3}$")]], msgspec.Meta(min_length=1)
    ] = msgspec.field(default_factory=lambda: ["USD"])
    """The currencies the API takes (ISO 4217 codes; 422 for others). A payment's currency must
    also be its payer's account's."""
    webhook_replay_window_s: Annotated[float, msgspec.Meta(ge=0)] = 600.0
    """How long the API remembers a delivered webhook (event id and signature timestamp) to drop
    replays of it: at least twice the signature tolerance, so a replay is stale before it is
    forgotten."""
    workflow_sandbox: bool = False
    """Run workflow code in the SDK's sandbox (per-run module re-import, restricted calls checked
    at run time). Off by default: it cost about a third of the payments worker's CPU (BENCHMARKS.md,
    "The workflow sandbox"). Determinism is guarded before deployment instead: the workflow tests
    run in the sandbox, ``tests/unit/test_workflow_determinism.py`` reads the workflow modules
    for forbidden calls, and the replay gate replays recorded histories."""

    @property
    def api_url(self) -> str:
        """Base URL of the Litestar API."""
        return f"http://{self.api_host}:{self.api_port}"


#: Config fields that hold secrets -> the environment variable that overrides each (or names,
#: with ``_FILE``, a file holding it).
SECRET_ENV = {
    "webhook_secret": "SAGA_WEBHOOK_SECRET",
    "webhook_previous_secrets": "SAGA_WEBHOOK_PREVIOUS_SECRETS",
    "payment_id_secret": "SAGA_PAYMENT_ID_SECRET",
    "admin_token": ADMIN_TOKEN_ENV,
}
#: The secrets a harness needs (it signs duplicate callbacks and computes payment ids).
EVERY_SECRET = ("webhook_secret", "payment_id_secret")
#: The secrets each process needs; the others may be absent from its environment.
NEEDS: dict[str, tuple[str, ...]] = {
    "api": ("webhook_secret", "payment_id_secret"),
    "sim-provider": ("webhook_secret",),
}


def load_config(path: str | Path, needs: tuple[str, ...] = EVERY_SECRET) -> StackConfig:
    """Read and validate a stack config file; errors name the file and the field path.

    ``needs``: the secrets this process uses, each refused when missing, short, a placeholder or
    too regular (:func:`orchestrator.secrets.weakness`). A secret present but not needed is
    checked too; ``webhook_previous_secrets`` whenever it is set."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config: {exc.strerror}") from exc
    try:
        fields = msgspec.json.decode(raw)
        if not isinstance(fields, dict):
            raise ConfigError(f"{path}: expected a JSON object")
        config = msgspec.convert(fields | _secrets_from_env(), StackConfig)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    except msgspec.DecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON: {exc}") from exc
    for field, env in SECRET_ENV.items():
        value = getattr(config, field)
        values = value if isinstance(value, list) else [value]
        for i, secret in enumerate(values):
            if not secret and field not in needs:
                continue
            problem = weakness(secret)
            if problem is not None:
                where = f"{field}[{i}]" if isinstance(value, list) else field
                raise ConfigError(
                    f"{path}: {where}: {problem} (set it in the file, in ${env} or in a file"
                    f" named by ${env}_FILE; make one with: {GENERATE})"
                )
    return config


def _secrets_from_env() -> dict[str, object]:
    found: dict[str, object] = {}
    for field, env in SECRET_ENV.items():
        value = secret_from_env(env, os.environ)
        if value is None:
            continue
        found[field] = [v for v in value.split(",") if v] if field.endswith("secrets") else value
    return found


def write_config(config: StackConfig, path: str | Path) -> None:
    """Write a stack config file atomically, mode 0600 (it holds the webhook secret)."""
    write_private(Path(path), msgspec.json.format(msgspec.json.encode(config)))
