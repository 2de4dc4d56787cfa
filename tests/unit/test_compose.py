"""docker-compose.yml validates as a compose file and agrees with the configs it mounts."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from secrets import token_hex

import pytest
import yaml

from orchestrator.config import load_config
from runtime.embedded import CLUSTER_DYNAMIC_CONFIG
from tests.binaries import missing

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
INSTALL_HINT = (
    "install Docker Compose: the `docker compose` plugin, or Debian's `docker-compose` package "
    "(`apt-get install --no-install-recommends docker-compose`; `.ci/run` does this)"
)


def compose_command() -> list[str] | None:
    docker = shutil.which("docker")
    if docker:
        probe = subprocess.run([docker, "compose", "version"], capture_output=True, check=False)
        if probe.returncode == 0:
            return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


def services() -> dict[str, dict[str, object]]:
    compose = yaml.safe_load(COMPOSE.read_text())
    result: dict[str, dict[str, object]] = compose["services"]
    return result


def _env_example() -> dict[str, str]:
    lines = (ROOT / ".env.example").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def _compose_config(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = compose_command()
    if command is None:
        missing(f"no compose implementation: {INSTALL_HINT}")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SAGA_", "GRAFANA_"))}
    clean = {k: v for k, v in clean.items() if k not in ("POSTGRES_PASSWORD", "COMPOSE_FILE")}
    # Compose reads the .env beside the file it is given: an empty one stands in for it here.
    empty = ROOT / "tests" / "compose" / "empty.env"
    return subprocess.run(
        [*command, "--env-file", str(empty), "-f", str(COMPOSE), "config", "--quiet"],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT / "tests",  # no .env of the checkout is read: only what the test passes
        env=clean | env,
    )


def test_compose_file_validates_with_the_example_env() -> None:
    result = _compose_config(_env_example())
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("variable", ["SAGA_WEBHOOK_SECRET", "POSTGRES_PASSWORD"])
def test_compose_refuses_to_start_without_its_secrets(variable: str) -> None:
    env = _env_example()
    del env[variable]
    result = _compose_config(env)
    assert result.returncode != 0
    assert variable in result.stderr


def test_no_secret_is_committed_and_admin_ports_stay_local() -> None:
    config = json.loads((ROOT / "compose/config.json").read_text())
    assert config["webhook_secret"] == "" and config["payment_id_secret"] == ""
    for name, service in services().items():
        for port in service.get("ports", []) or []:  # type: ignore[attr-defined]
            if name != "api":
                assert str(port).startswith("127.0.0.1:"), (name, port)
    prometheus = services()["prometheus"]["command"]
    assert "--web.enable-lifecycle" not in prometheus  # type: ignore[operator]
    grafana = services()["grafana"]["environment"]
    assert grafana["GF_AUTH_ANONYMOUS_ORG_ROLE"] != "Admin"  # type: ignore[index]


def test_every_part_of_the_system_is_a_service() -> None:
    names = set(services())
    assert {
        "postgres",
        "temporal",
        "temporal-ui",
        "toxiproxy",
        "prometheus",
        "grafana",
        "api",
        "sim-provider",
        "sim-fraud",
        "sim-notify",
        "worker-payments",
        "worker-accounts",
        "worker-fraud",
        "worker-notifications",
        "k6",
    } <= names
    assert services()["k6"].get("profiles") == ["load"]
    assert services()["toxiproxy"]["image"] == "ghcr.io/shopify/toxiproxy:2.12.0"


def test_prometheus_scrapes_only_services_that_exist() -> None:
    config = yaml.safe_load((ROOT / "observability/prometheus/prometheus.yml").read_text())
    hosts = {
        target.split(":")[0]
        for job in config["scrape_configs"]
        for group in job["static_configs"]
        for target in group["targets"]
    }
    aliases = {
        alias
        for service in services().values()
        if isinstance(service.get("networks"), dict)
        for network in service["networks"].values()
        for alias in (network or {}).get("aliases", [])
    }
    known = set(services()) | aliases
    assert hosts - {"localhost"} <= known, hosts - known


def test_toxiproxy_links_and_app_config_point_at_services(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in _env_example():
        monkeypatch.setenv(name, token_hex(32))  # as compose passes them, set to real secrets
    proxies = json.loads((ROOT / "compose/toxiproxy.json").read_text())
    assert {p["name"] for p in proxies} == {"temporal", "provider", "callbacks", "fraud", "notify"}
    for proxy in proxies:
        assert proxy["upstream"].split(":")[0] in services(), proxy
    config = load_config(ROOT / "compose/config.json")  # strict: fails on drift
    listening = {p["listen"].split(":")[1] for p in proxies}
    for url in (config.urls.provider, config.urls.fraud, config.urls.notify, config.callback_url):
        assert url.split("://")[1].split("/")[0].split(":")[1] in listening, url


def test_grafana_provisioning_is_mounted_and_complete() -> None:
    volumes = services()["grafana"]["volumes"]
    assert isinstance(volumes, list)
    assert any("observability/grafana/provisioning" in v for v in volumes)
    assert any("observability/grafana/dashboards" in v for v in volumes)
    datasource = yaml.safe_load(
        (ROOT / "observability/grafana/provisioning/datasources/prometheus.yml").read_text()
    )
    assert datasource["datasources"][0]["uid"] == "prometheus"
    assert len(list((ROOT / "observability/grafana/dashboards").glob("*.json"))) == 5


def test_the_ledger_lives_in_postgres_and_only_its_users_get_the_password() -> None:
    config = json.loads((ROOT / "compose/config.json").read_text())
    assert config["ledger_path"] == "postgresql://ledger@postgres:5432/ledger"
    assert ":" not in config["ledger_path"].split("://")[1].split("@")[0]  # no password in it
    init = (ROOT / "compose/postgres-init.sh").read_text()
    assert "CREATE ROLE ledger LOGIN" in init and "CREATE DATABASE ledger OWNER ledger" in init
    for name, service in services().items():
        environment = service.get("environment") or {}
        has_password = isinstance(environment, dict) and "PGPASSWORD" in environment
        assert has_password == (name in ("init", "api", "worker-accounts")), name


def test_the_temporal_server_gets_the_cluster_backends_dynamic_config() -> None:
    """The compose server runs with the same dynamic config as the cluster backend (the history
    cache cap, the timer shift, one task queue partition, eager activities): the file it mounts
    holds exactly ``CLUSTER_DYNAMIC_CONFIG``, and its path is the one the image reads."""
    temporal = services()["temporal"]
    environment = temporal["environment"]
    volumes = temporal["volumes"]
    assert isinstance(environment, dict) and isinstance(volumes, list)
    mounts = dict(v.removesuffix(":ro").split(":", 1)[::-1] for v in volumes)
    path = "/etc/temporal/" + environment["DYNAMIC_CONFIG_FILE_PATH"]
    source = ROOT / mounts[path]
    settings = yaml.safe_load(source.read_text())
    assert {key: values[0]["value"] for key, values in settings.items()} == CLUSTER_DYNAMIC_CONFIG
    assert all(len(values) == 1 for values in settings.values())
