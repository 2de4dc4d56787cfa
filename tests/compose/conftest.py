"""The docker-compose deployment, started for real on local images (``compose/local/``) under a
project of its own, and removed with its volumes afterwards, on every path."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from runtime.compose import read_dotenv
from runtime.prometheus_auth import PROMETHEUS_PASSWORD_ENV
from tests.binaries import missing

ROOT = Path(__file__).resolve().parents[2]
#: Not the checkout's default project: a deployment someone runs here is left alone.
PROJECT = "sagacomposetest"


def stack_sh(action: str, timeout_s: float, **env: str) -> subprocess.CompletedProcess[str]:
    """``sh compose/local/stack.sh ACTION`` for the test project."""
    return subprocess.run(
        ["sh", str(ROOT / "compose/local/stack.sh"), action],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
        env=os.environ | {"COMPOSE_PROJECT_NAME": PROJECT, **env},
    )


@pytest.fixture(scope="package")
def deployment() -> Iterator[Path]:
    """The project directory of a healthy deployment (``make compose-up``'s route)."""
    docker = shutil.which("docker")
    engine = subprocess.run([docker, "info"], capture_output=True, check=False) if docker else None
    if engine is None or engine.returncode != 0:
        missing(
            "no Docker engine answers: `make compose-ready` (as root) installs Debian's docker.io"
            " and starts one (docs/deployment.md)"
        )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COMPOSE_PROJECT_NAME", PROJECT)  # the harness's compose commands too
        try:
            up = stack_sh("up", timeout_s=900)
            assert up.returncode == 0, up.stdout[-4000:] + up.stderr[-4000:]
            # The tests query its Prometheus as the harness does (runtime.prometheus_auth).
            password = read_dotenv(ROOT / ".env")[PROMETHEUS_PASSWORD_ENV]
            patch.setenv(PROMETHEUS_PASSWORD_ENV, password)
            yield ROOT
        finally:
            down = stack_sh("down", timeout_s=300, VOLUMES="1")
            assert down.returncode == 0, down.stdout[-2000:] + down.stderr[-2000:]
