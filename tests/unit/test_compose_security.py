"""The deployment's least privilege, read from docker-compose.yml and the Dockerfiles (the same
claims are checked against running containers in tests/compose/)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
SIMULATORS = ("sim-provider", "sim-fraud", "sim-notify")


def services() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())[
        "services"
    ]
    return found


def networks(service: dict[str, Any]) -> set[str]:
    named = service.get("networks", [])
    return set(named if isinstance(named, list) else named.keys())


def named_volumes(service: dict[str, Any]) -> dict[str, str]:
    """Named volume -> mode (rw or ro) of a service."""
    found = {}
    for volume in service.get("volumes", []):
        source, _, rest = volume.partition(":")
        if not source.startswith((".", "/")):
            found[source] = "ro" if rest.endswith(":ro") else "rw"
    return found


def test_no_service_and_no_image_runs_as_root() -> None:
    for name, service in services().items():
        user = str(service.get("user", ""))
        assert user and user.split(":")[0] not in ("0", "root"), (name, user)
    for dockerfile in [ROOT / "Dockerfile", *(ROOT / "compose/local").glob("*.Dockerfile")]:
        users = re.findall(r"^USER (\S+)", dockerfile.read_text(), re.MULTILINE)
        assert users and users[-1] not in ("0", "root"), dockerfile.name


def test_only_the_api_and_its_load_generator_are_on_the_public_network() -> None:
    public = {name for name, s in services().items() if "public" in networks(s)}
    assert public == {"api", "k6"}  # k6 stands for the API's clients
    for name, service in services().items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), (name, port)  # TLS in front to go further


def test_the_simulators_share_no_network_with_the_data_or_temporal() -> None:
    found = services()
    for simulator in SIMULATORS:
        assert networks(found[simulator]) == {"chaos"}, simulator
    assert "chaos" not in networks(found["postgres"]) | networks(found["temporal"])
    # Toxiproxy joins both: its service links listen on the app network, its API on loopback
    # (served on the app network by toxiproxy-guard), only the callback link on chaos.
    proxies = yaml.safe_load((ROOT / "compose/toxiproxy.json").read_text())
    listen = {p["name"]: p["listen"].split(":")[0] for p in proxies}
    assert listen.pop("callbacks") == "toxiproxy-chaos"
    assert set(listen.values()) == {"toxiproxy-app"}


def test_no_simulator_shares_a_writable_volume_with_the_api() -> None:
    found = services()
    api = named_volumes(found["api"])
    assert api == {"api-keys": "rw"}
    for simulator in SIMULATORS:
        assert not set(named_volumes(found[simulator])) & set(api), simulator
    for name, service in found.items():
        if name not in ("api", "init"):
            assert named_volumes(service).get("api-keys", "ro") == "ro", name


def test_each_service_gets_only_its_secrets_and_the_ledger_its_own_role() -> None:
    found = services()

    def secrets_of(name: str) -> set[str]:
        env = found[name].get("environment", {})
        return {k for k in env if k.startswith("SAGA_") or k.endswith("PASSWORD")}

    assert secrets_of("api") == {
        "SAGA_WEBHOOK_SECRET",
        "SAGA_WEBHOOK_PREVIOUS_SECRETS",
        "SAGA_PAYMENT_ID_SECRET",
        "PGPASSWORD",
    }
    assert secrets_of("sim-provider") == {"SAGA_WEBHOOK_SECRET", "SAGA_ADMIN_TOKEN"}
    assert secrets_of("sim-fraud") == secrets_of("sim-notify") == {"SAGA_ADMIN_TOKEN"}
    assert secrets_of("worker-accounts") == {"PGPASSWORD"}
    for worker in ("worker-payments", "worker-fraud", "worker-notifications"):
        assert secrets_of(worker) == set(), worker
    for name in ("api", "worker-accounts", "init"):
        assert found[name]["environment"]["PGPASSWORD"].startswith("${LEDGER_PASSWORD:?"), name
    for path in ("compose/config.json", "compose/harness.json"):
        assert "postgresql://ledger@" in (ROOT / path).read_text(), path


def test_every_admin_surface_is_behind_a_token() -> None:
    found = services()
    for simulator in SIMULATORS:
        token = found[simulator]["environment"]["SAGA_ADMIN_TOKEN"]
        assert token.startswith("${SAGA_ADMIN_TOKEN:?"), simulator  # compose refuses without
    # Toxiproxy's API only on its container's loopback; the guard serves it, behind a token.
    assert "-host=127.0.0.1" in found["toxiproxy"]["command"]
    assert found["toxiproxy"]["ports"] == ["127.0.0.1:8474:8475"]
    guard = found["toxiproxy-guard"]
    assert guard["network_mode"] == "service:toxiproxy"
    assert guard["command"][guard["command"].index("--host") + 1] == "toxiproxy-app"
    assert guard["environment"]["SAGA_TOXIPROXY_TOKEN"].startswith("${SAGA_TOXIPROXY_TOKEN:?")
    assert found["temporal-ui"]["environment"]["TEMPORAL_DISABLE_WRITE_ACTIONS"] == "true"
    assert found["grafana"]["environment"]["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Viewer"


def test_prometheus_wants_a_password_and_every_client_sends_it() -> None:
    found = services()
    password = "${SAGA_PROMETHEUS_PASSWORD:?"
    prometheus = found["prometheus"]
    assert "--web.config.file=/etc/prometheus/web/web.yml" in prometheus["command"]
    assert "prometheus-web:/etc/prometheus/web:ro" in prometheus["volumes"]
    assert prometheus["depends_on"]["prometheus-auth"]["condition"].endswith("successfully")
    assert "SAGA_PROMETHEUS_PASSWORD" in " ".join(prometheus["healthcheck"]["test"])
    writer = found["prometheus-auth"]
    assert writer["network_mode"] == "none"
    assert writer["environment"]["SAGA_PROMETHEUS_PASSWORD"].startswith(password)
    k6 = found["k6"]["environment"]
    assert k6["K6_PROMETHEUS_RW_USERNAME"] == "saga"
    assert k6["K6_PROMETHEUS_RW_PASSWORD"].startswith(password)
    assert found["grafana"]["environment"]["SAGA_PROMETHEUS_PASSWORD"].startswith(password)
    datasource = yaml.safe_load(
        (ROOT / "observability/grafana/provisioning/datasources/prometheus.yml").read_text()
    )["datasources"][0]
    assert datasource["basicAuth"] is True and datasource["basicAuthUser"] == "saga"
    assert datasource["secureJsonData"]["basicAuthPassword"] == "$SAGA_PROMETHEUS_PASSWORD"
