"""Attach to a running deployment: ``saga up`` in one process, ``saga scenario run --attach`` in
another; the scenario passes, and the stack keeps serving afterwards, with every fault rolled back
and every setting, build and knob as it was found."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from orchestrator.config import load_config
from runtime.control import CONTROL_FILE, ControlClient
from tests.binaries import require_binary

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """``saga up --headless`` in its own process group; its state directory."""
    require_binary("temporal")
    require_binary("toxiproxy-server")
    saga = require_binary("saga")
    state = tmp_path_factory.mktemp("attach")
    log = (state.parent / "saga-up.log").open("wb")
    up = subprocess.Popen(
        [saga, "up", "--headless", "--state-dir", str(state)],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 180
        while not (state / CONTROL_FILE).exists():
            assert up.poll() is None, (state.parent / "saga-up.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "saga up not ready after 180 s"
            time.sleep(0.5)
        yield state
    finally:
        up.send_signal(signal.SIGTERM)  # saga up stops every process it started
        try:
            up.wait(60)
        except subprocess.TimeoutExpired:
            up.kill()
            up.wait(10)
        log.close()
    assert not (state / CONTROL_FILE).exists()


def knobs(state: Path) -> dict[str, object]:
    urls = load_config(state / "config.json").admin_urls
    return {
        url: httpx.get(f"{url}/admin/knobs", timeout=10).json()
        for url in (urls.provider, urls.fraud, urls.notify)
    }


def saga(*argv: str, timeout_s: float = 300) -> subprocess.CompletedProcess[str]:
    binary = require_binary("saga")
    return subprocess.run(
        [binary, *argv], capture_output=True, text=True, timeout=timeout_s, check=False
    )


def test_a_scenario_attached_to_saga_up_passes_and_leaves_it_as_found(running: Path) -> None:
    control = ControlClient.of(running)
    before = control.call("GET", "/stack")
    knobs_before = knobs(running)
    config_before = (running / "config.json").read_text()

    run = saga("scenario", "run", "kitchen-sink", "--attach", str(running))
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "kitchen-sink: PASS" in run.stdout
    assert "pid" in run.stdout and "killed" in run.stdout  # the worker kill took effect

    after = control.call("GET", "/stack")
    assert after["build"] == before["build"]
    assert all(p["running"] for p in after["processes"].values()), after
    assert set(after["processes"]) == set(before["processes"])
    # The killed notification worker is a new process; the rest are the same ones.
    changed = {
        n for n, p in after["processes"].items() if p["pid"] != before["processes"][n]["pid"]
    }
    assert changed <= {"worker-notifications", "api"}, changed
    assert knobs(running) == knobs_before
    assert (running / "config.json").read_text() == config_before
    paid = saga("--state-dir", str(running), "pay", "--user", "alice", "--amount", "700", "--wait")
    assert paid.returncode == 0, paid.stdout + paid.stderr
    assert json.loads(paid.stdout)["state"] == "succeeded", paid.stdout


def test_the_control_endpoint_refuses_a_wrong_token_and_names_bad_requests(running: Path) -> None:
    good = ControlClient.of(running)
    answer = httpx.get(f"{good.url}/stack", headers={"Authorization": "Bearer nope"}, timeout=10)
    assert answer.status_code == 401
    headers = {"Authorization": f"Bearer {good.token}"}
    missing = httpx.post(f"{good.url}/processes/nope/restart", headers=headers, timeout=10)
    assert missing.status_code == 404 and "nope" in missing.json()["error"]
    bad = httpx.post(
        f"{good.url}/processes/api/signal", json={"signal": "HUP"}, headers=headers, timeout=10
    )
    assert bad.status_code == 400 and "signal" in bad.json()["error"]


def test_attaching_where_no_stack_runs_says_so(tmp_path: Path) -> None:
    run = saga("scenario", "run", "happy-path", "--attach", str(tmp_path), timeout_s=60)
    assert run.returncode == 2
    assert CONTROL_FILE in run.stderr and "saga up" in run.stderr
