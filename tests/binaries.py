"""Finding the external binaries tests need, and failing (CI) or skipping (locally) without them."""

from __future__ import annotations

import os
import shutil
import sysconfig
from pathlib import Path
from typing import NoReturn

import pytest


def find_binary(name: str) -> str | None:
    """The virtualenv's scripts directory first (it is not on PATH unless activated), then PATH."""
    candidate = Path(sysconfig.get_path("scripts")) / name
    if candidate.exists():
        return str(candidate)
    return shutil.which(name)


def missing(message: str) -> NoReturn:
    """Something a test needs is not installed: fail in CI (``CI`` set), skip locally."""
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def require_binary(name: str, install_hint: str) -> str:
    """The binary's path; in CI a missing binary fails the test, locally it skips it."""
    path = find_binary(name)
    if path is None:
        missing(f"`{name}` not found: {install_hint}")
    return path
