"""docker-compose.yml started for real: healthy, serving payments, attacked by the harness
(three scenarios and k6 inside its network), and least privilege checked from inside the running
containers, not only in the file."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import httpx

from runtime.compose import compose_program, read_dotenv
from runtime.prometheus import query
from tests.binaries import require_binary
from tests.compose.conftest import PROJECT

HERE = Path(__file__).parent
SIMULATORS = {"sim-provider": 8001, "sim-fraud": 8002, "sim-notify": 8003}


def docker(*argv: str, timeout_s: float = 60) -> str:
    done = subprocess.run(
        ["docker", *argv], capture_output=True, text=True, timeout=timeout_s, check=False
    )
    assert done.returncode == 0, f"docker {' '.join(argv)}: {done.stderr}"
    return done.stdout


def containers() -> dict[str, dict[str, Any]]:
    """The test project's containers by service: docker inspect's view."""
    ids = docker("ps", "-a", "-q", "--filter", f"label=com.docker.compose.project={PROJECT}")
    found = json.loads(docker("inspect", *ids.split()))
    return {c["Config"]["Labels"]["com.docker.compose.service"]: c for c in found}


def run_in(service: str, *argv: str) -> subprocess.CompletedProcess[str]:
    """A command in the running service's container, as its own user."""
    return subprocess.run(
        ["docker", "exec", containers()[service]["Id"], *argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def saga(*argv: str, timeout_s: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [require_binary("saga"), *argv],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


def test_every_service_is_healthy_and_runs_as_a_non_root_user(deployment: Path) -> None:
    found = containers()
    assert set(found) == {
        "postgres",
        "temporal",
        "temporal-ui",
        "toxiproxy",
        "prometheus",
        "prometheus-auth",
        "toxiproxy-guard",
        "init",
        "api",
        "worker-payments",
        "worker-accounts",
        "worker-fraud",
        "worker-notifications",
        *SIMULATORS,
    }  # Grafana aside: no image can be had here (compose/local/docker-compose.local.yml)
    for name, container in found.items():
        state = container["State"]
        if name in ("init", "prometheus-auth"):  # one-shots
            assert (state["Status"], state["ExitCode"]) == ("exited", 0), name
            continue
        assert state["Status"] == "running", (name, state["Status"])
        assert state.get("Health", {"Status": "healthy"})["Status"] == "healthy", name
        uid = run_in(name, "id", "-u") if name not in ("toxiproxy", "temporal-ui") else None
        # Toxiproxy's and the UI's images hold their binary only: docker reports the user.
        user = uid.stdout.strip() if uid is not None else container["Config"]["User"]
        assert user and user.split(":")[0] not in ("0", "root"), (name, user)


def test_a_simulator_reaches_its_callback_link_and_nothing_else(deployment: Path) -> None:
    probe = (
        "import json, socket\n"
        "out = {}\n"
        "for host, port in [('postgres', 5432), ('temporal', 7233), ('api', 8000),"
        " ('toxiproxy', 17233), ('toxiproxy', 8474), ('toxiproxy', 8475), ('toxiproxy', 18000)]:\n"
        "    try:\n"
        "        socket.create_connection((host, port), timeout=3).close()\n"
        "        out[f'{host}:{port}'] = 'open'\n"
        "    except OSError as exc:\n"
        "        out[f'{host}:{port}'] = type(exc).__name__\n"
        "print(json.dumps(out))\n"
    )
    for simulator in SIMULATORS:
        done = run_in(simulator, "python", "-c", probe)
        assert done.returncode == 0, done.stderr
        reached = json.loads(done.stdout)
        assert reached.pop("toxiproxy:18000") == "open"  # the provider's callbacks go here
        assert all(outcome != "open" for outcome in reached.values()), (simulator, reached)


def test_no_simulator_can_touch_the_apis_key_file(deployment: Path) -> None:
    found = containers()
    keys = next(m for m in found["api"]["Mounts"] if m["Destination"] == "/data")
    assert keys["Type"] == "volume" and keys["RW"]
    for simulator in SIMULATORS:
        mounted = {m.get("Name") or m["Source"] for m in found[simulator]["Mounts"]}
        assert keys["Name"] not in mounted, simulator
        listing = run_in(simulator, "ls", "-A", "/data")
        assert "api-keys.json" not in listing.stdout, simulator
    assert "api-keys.json" in run_in("api", "ls", "/data").stdout


def test_admin_surfaces_refuse_a_request_without_their_token(deployment: Path) -> None:
    token = read_dotenv(deployment / ".env").get("SAGA_ADMIN_TOKEN") or os.environ.get(
        "SAGA_ADMIN_TOKEN", ""
    )
    assert token
    for port in SIMULATORS.values():
        base = f"http://127.0.0.1:{port}"
        bare = httpx.get(f"{base}/admin/knobs", timeout=10)
        assert bare.status_code == 401 and "Bearer" in bare.headers["www-authenticate"]
        wrong = httpx.patch(
            f"{base}/admin/knobs",
            json={"seed": 1},
            headers={"Authorization": "Bearer nope"},
            timeout=10,
        )
        assert wrong.status_code == 401
        good = httpx.get(
            f"{base}/admin/knobs", headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
        assert good.status_code == 200
    assert httpx.get("http://127.0.0.1:8001/charges", timeout=10).status_code == 401
    # Through the provider link a worker uses, the token is still asked for.
    via_link = run_in(
        "worker-payments",
        "python",
        "-c",
        "import urllib.request, urllib.error\n"
        "try: urllib.request.urlopen('http://toxiproxy:18001/admin/knobs')\n"
        "except urllib.error.HTTPError as e: print(e.code)\n",
    )
    assert via_link.stdout.strip() == "401", via_link
    settings = httpx.get("http://127.0.0.1:8080/api/v1/settings", timeout=10).json()
    assert settings["DisableWriteActions"] is True  # the UI has no login: it only reads


def test_toxiproxys_api_wants_its_token_and_is_not_on_the_chaos_network(
    deployment: Path,
) -> None:
    token = read_dotenv(deployment / ".env")["SAGA_TOXIPROXY_TOKEN"]
    base = "http://127.0.0.1:8474"
    bare = httpx.get(f"{base}/proxies", timeout=10)
    assert bare.status_code == 401 and "Bearer" in bare.headers["www-authenticate"]
    create = httpx.post(f"{base}/proxies", json={"name": "x", "listen": "127.0.0.1:19999"})
    assert create.status_code == 401
    good = httpx.get(f"{base}/proxies", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert good.status_code == 200 and "provider" in good.json()
    assert httpx.get(f"{base}/version", timeout=10).status_code == 200  # the health check
    # From the app network (a worker): the guard, and no way around it to the bare API.
    probe = run_in(
        "worker-payments",
        "python",
        "-c",
        "import urllib.request, urllib.error, socket\n"
        "try: urllib.request.urlopen('http://toxiproxy-app:8475/proxies')\n"
        "except urllib.error.HTTPError as e: print(e.code)\n"
        "try: socket.create_connection(('toxiproxy-app', 8474), timeout=3); print('open')\n"
        "except OSError: print('closed')\n",
    )
    assert probe.stdout.split() == ["401", "closed"], probe


def test_saga_pay_and_get_payment_work_against_it(deployment: Path, tmp_path: Path) -> None:
    """As docs/deployment.md shows a user: a state directory for the CLI beside compose."""
    config = json.loads((deployment / "compose/harness.json").read_text())
    config["api_keys_path"] = str(tmp_path / "api-keys.json")
    (tmp_path / "config.json").write_text(json.dumps(config))
    credentials = run_in("api", "cat", "/data/credentials.json")
    assert credentials.returncode == 0, credentials.stderr
    (tmp_path / "credentials.json").write_text(credentials.stdout)
    state = ["--state-dir", str(tmp_path)]
    paid = saga(*state, "pay", "--user", "alice", "--amount", "700", "--wait")
    assert paid.returncode == 0, paid.stdout + paid.stderr
    payment = json.loads(paid.stdout)
    assert payment["state"] == "succeeded", payment
    read = saga(*state, "status", payment["payment_id"])
    assert read.returncode == 0, read.stderr
    assert json.loads(read.stdout)["payment_id"] == payment["payment_id"]


def test_a_process_a_link_and_a_temporal_fault_hold_on_it(deployment: Path) -> None:
    """worker-crash (kill -9, then restarted healthy), callback-link-flaps (Toxiproxy), and
    Temporal's own cancel at three steps."""
    cancel = str(HERE / "temporal-cancel-compose.yaml")
    run = saga(
        "scenario",
        "run",
        "worker-crash",
        "callback-link-flaps",
        cancel,
        "--compose",
        str(deployment),
    )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert "3 of 3 scenarios held" in run.stdout
    assert "killed (exit -9); restarted as pid" in run.stdout


def test_load_runs_k6_inside_the_network_and_loses_nothing(deployment: Path) -> None:
    run = saga("load", "--compose", str(deployment), "--rate", "2", "--duration", "30s")
    assert run.returncode == 0, run.stdout[-5000:] + run.stderr[-2000:]
    assert re.search(r"unfinished payments\s+0\b", run.stdout), run.stdout[-3000:]
    testid = re.search(r"load (load-[0-9a-f]+): PASS", run.stdout)
    assert testid, run.stdout[-2000:]
    # k6 remote-wrote to prometheus:9090, a name only the compose networks resolve, with the
    # password from the .env (runtime.prometheus.query sends it, as the harness does).
    assert query("http://127.0.0.1:9090", f'k6_http_reqs_total{{testid="{testid.group(1)}"}}')


def test_prometheus_wants_its_password_for_queries_and_remote_writes(deployment: Path) -> None:
    """The remote-write receiver k6 uses is on the chaos network too: a simulator could add
    series if it took writes without a password."""
    password = read_dotenv(deployment / ".env")["SAGA_PROMETHEUS_PASSWORD"]
    base = "http://127.0.0.1:9090"
    bare = httpx.get(f"{base}/api/v1/query", params={"query": "up"}, timeout=10)
    assert bare.status_code == 401 and "Basic" in bare.headers["www-authenticate"]
    wrong = httpx.get(f"{base}/api/v1/query", params={"query": "up"}, auth=("saga", "nope"))
    assert wrong.status_code == 401
    good = httpx.get(f"{base}/api/v1/query", params={"query": "up"}, auth=("saga", password))
    assert good.status_code == 200 and good.json()["data"]["result"]
    # From a simulator's network, a write without the password is refused before it is read.
    write = run_in(
        "sim-notify",
        "python",
        "-c",
        "import urllib.request, urllib.error\n"
        "request = urllib.request.Request('http://prometheus:9090/api/v1/write', data=b'x',"
        " headers={'Content-Type': 'application/x-protobuf'})\n"
        "try: urllib.request.urlopen(request)\n"
        "except urllib.error.HTTPError as e: print(e.code)\n",
    )
    assert write.stdout.strip() == "401", write


def test_the_documented_k6_service_reads_its_keys_and_runs(deployment: Path) -> None:
    """`docker compose --profile load run --rm k6`, as docs/deployment.md gives it (shortened):
    k6 runs as the app's user, so it can read the demo users' keys (0600) from the key volume."""
    done = subprocess.run(
        [*compose_program(), "--profile", "load", "run", "--rm", "k6"],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        cwd=deployment,
        env=os.environ | {"K6_DURATION": "10s", "K6_TESTID": "compose-doc"},
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    assert "permission denied" not in output.lower()
    # The script logs each payment it saw end; ten seconds at 2/s makes about twenty.
    ended = re.findall(r'state\\?":\\?"succeeded\\?"', output)
    assert len(ended) >= 5, output[-3000:]
