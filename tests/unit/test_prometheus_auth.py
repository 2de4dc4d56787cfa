"""Prometheus' web config from the deployment's password, and the clients' credentials."""

from __future__ import annotations

import secrets
from pathlib import Path

import bcrypt
import pytest
import yaml

from orchestrator.errors import ConfigError
from runtime.prometheus_auth import (
    PROMETHEUS_PASSWORD_ENV,
    PROMETHEUS_USER,
    credentials,
    main,
    write_web_config,
)


def test_the_web_config_holds_a_hash_of_the_password_not_the_password(tmp_path: Path) -> None:
    password = secrets.token_hex(32)
    out = tmp_path / "web" / "web.yml"
    write_web_config(out, {PROMETHEUS_PASSWORD_ENV: password})
    text = out.read_text()
    assert password not in text
    hashed = yaml.safe_load(text)["basic_auth_users"][PROMETHEUS_USER]
    assert bcrypt.checkpw(password.encode(), hashed.encode())
    assert not bcrypt.checkpw(b"another", hashed.encode())
    assert out.stat().st_mode & 0o777 == 0o644  # Prometheus runs as another user


@pytest.mark.parametrize(
    ("environ", "problem"),
    [
        ({}, "is not set"),
        ({PROMETHEUS_PASSWORD_ENV: "short"}, "at least 32 characters"),
        ({PROMETHEUS_PASSWORD_ENV: "replace-with-64-hex-characters-" + "5" * 33}, "placeholder"),
    ],
)
def test_a_missing_or_weak_password_is_refused_naming_it(
    tmp_path: Path, environ: dict[str, str], problem: str
) -> None:
    with pytest.raises(ConfigError, match=problem) as refused:
        write_web_config(tmp_path / "web.yml", environ)
    assert PROMETHEUS_PASSWORD_ENV in str(refused.value)
    assert not (tmp_path / "web.yml").exists()


def test_the_command_says_what_is_wrong_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(PROMETHEUS_PASSWORD_ENV, raising=False)
    assert main([str(tmp_path / "web.yml")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("prometheus-auth: $SAGA_PROMETHEUS_PASSWORD is not set")
    assert "\n" not in err


def test_clients_send_credentials_only_when_a_password_is_set(tmp_path: Path) -> None:
    assert credentials({}) is None
    assert credentials({PROMETHEUS_PASSWORD_ENV: "pw"}) == (PROMETHEUS_USER, "pw")
    (tmp_path / "pw").write_text("from-a-file\n")
    from_file = credentials({f"{PROMETHEUS_PASSWORD_ENV}_FILE": str(tmp_path / "pw")})
    assert from_file == (PROMETHEUS_USER, "from-a-file")
