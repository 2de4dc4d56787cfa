"""Secrets come from the config file or the environment, and a config without them is refused
with the field and the variable to set."""

from __future__ import annotations

import json
from pathlib import Path
from secrets import token_hex

import pytest

from orchestrator.config import NEEDS, SECRET_ENV, load_config
from orchestrator.errors import ConfigError
from orchestrator.secrets import weakness

COMPOSE_CONFIG = Path(__file__).resolve().parents[2] / "compose" / "config.json"


def test_a_config_without_secrets_names_the_field_and_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("SAGA_WEBHOOK_SECRET", "SAGA_PAYMENT_ID_SECRET"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigError, match=r"webhook_secret: .*\$SAGA_WEBHOOK_SECRET"):
        load_config(COMPOSE_CONFIG)


def test_the_environment_supplies_and_overrides_secrets(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    raw = json.loads(COMPOSE_CONFIG.read_text()) | {"webhook_secret": token_hex(32)}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(raw))
    webhook, old, older, payment = (token_hex(32) for _ in range(4))
    monkeypatch.setenv("SAGA_WEBHOOK_SECRET", webhook)
    monkeypatch.setenv("SAGA_WEBHOOK_PREVIOUS_SECRETS", f"{old},{older}")
    monkeypatch.setenv("SAGA_PAYMENT_ID_SECRET", payment)
    config = load_config(path)
    assert config.webhook_secret == webhook
    assert config.webhook_previous_secrets == [old, older]
    assert config.payment_id_secret == payment


def test_a_short_previous_webhook_secret_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Issue 30: a previous secret still verifies callbacks, so `x` would be a forgery key."""
    raw = json.loads(COMPOSE_CONFIG.read_text()) | {
        "webhook_secret": token_hex(32),
        "payment_id_secret": token_hex(32),
        "webhook_previous_secrets": [token_hex(32), "x"],
    }
    for name in ("SAGA_WEBHOOK_SECRET", "SAGA_PAYMENT_ID_SECRET", "SAGA_WEBHOOK_PREVIOUS_SECRETS"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(ConfigError, match=r"webhook_previous_secrets\[1\]: expected a secret"):
        load_config(path)


def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in SECRET_ENV.values():
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(f"{name}_FILE", raising=False)


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("replace-with-64-hex-characters-from-the-command-above-0000000000", "placeholder"),
        ("a" * 64, "too regular"),
        ("abab" * 16, "too regular"),
        ("short", "at least 32"),
    ],
)
def test_placeholders_and_guessable_values_are_refused(
    monkeypatch: pytest.MonkeyPatch, value: str, why: str
) -> None:
    """Issue 30: `cp .env.example .env` must not start a deployment with public secrets."""
    _clean_env(monkeypatch)
    monkeypatch.setenv("SAGA_WEBHOOK_SECRET", value)
    monkeypatch.setenv("SAGA_PAYMENT_ID_SECRET", token_hex(32))
    with pytest.raises(ConfigError, match=rf"webhook_secret: .*{why}.*token_hex"):
        load_config(COMPOSE_CONFIG)


def test_every_example_placeholder_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    example = (COMPOSE_CONFIG.parents[1] / ".env.example").read_text().splitlines()
    values = [line.split("=", 1)[1] for line in example if "=" in line and line[0] != "#"]
    assert [v for v in values if v and weakness(v) is None] == []


def test_a_secret_may_come_from_a_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _clean_env(monkeypatch)
    secret = token_hex(32)
    (tmp_path / "webhook").write_text(secret + "\n")
    monkeypatch.setenv("SAGA_WEBHOOK_SECRET_FILE", str(tmp_path / "webhook"))
    monkeypatch.setenv("SAGA_PAYMENT_ID_SECRET_FILE", str(tmp_path / "nope"))
    with pytest.raises(ConfigError, match=r"SAGA_PAYMENT_ID_SECRET_FILE: cannot read .*nope"):
        load_config(COMPOSE_CONFIG)
    (tmp_path / "nope").write_text(token_hex(32))
    assert load_config(COMPOSE_CONFIG).webhook_secret == secret


def test_each_process_needs_only_its_own_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker starts with no app secret in its environment; the API does not."""
    _clean_env(monkeypatch)
    config = load_config(COMPOSE_CONFIG, needs=())
    assert config.webhook_secret == config.payment_id_secret == config.admin_token == ""
    monkeypatch.setenv("SAGA_WEBHOOK_SECRET", token_hex(32))
    assert load_config(COMPOSE_CONFIG, needs=NEEDS["sim-provider"]).webhook_secret
    with pytest.raises(ConfigError, match="payment_id_secret"):
        load_config(COMPOSE_CONFIG, needs=NEEDS["api"])
