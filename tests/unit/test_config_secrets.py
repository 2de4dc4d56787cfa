"""Secrets come from the config file or the environment, and a config without them is refused
with the field and the variable to set."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator.config import load_config
from orchestrator.errors import ConfigError

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
    raw = json.loads(COMPOSE_CONFIG.read_text()) | {"webhook_secret": "f" * 64}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(raw))
    monkeypatch.setenv("SAGA_WEBHOOK_SECRET", "w" * 40)
    monkeypatch.setenv("SAGA_WEBHOOK_PREVIOUS_SECRETS", "o" * 40 + "," + "p" * 40)
    monkeypatch.setenv("SAGA_PAYMENT_ID_SECRET", "i" * 40)
    config = load_config(path)
    assert config.webhook_secret == "w" * 40
    assert config.webhook_previous_secrets == ["o" * 40, "p" * 40]
    assert config.payment_id_secret == "i" * 40


def test_a_short_previous_webhook_secret_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Issue 30: a previous secret still verifies callbacks, so `x` would be a forgery key."""
    raw = json.loads(COMPOSE_CONFIG.read_text()) | {
        "webhook_secret": "f" * 64,
        "payment_id_secret": "i" * 64,
        "webhook_previous_secrets": ["o" * 40, "x"],
    }
    for name in ("SAGA_WEBHOOK_SECRET", "SAGA_PAYMENT_ID_SECRET", "SAGA_WEBHOOK_PREVIOUS_SECRETS"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(ConfigError, match=r"webhook_previous_secrets\[1\]: expected a secret"):
        load_config(path)
