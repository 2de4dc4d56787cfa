"""Finding the external binaries tests need, and failing (CI) or skipping (locally) without them.

Where to look and how to install each binary is ``runtime.binaries``'s table, the one the stack
itself reads.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

from runtime.binaries import find as find_binary
from runtime.binaries import install_hint

__all__ = ["find_binary", "missing", "require_binary"]


def missing(message: str) -> NoReturn:
    """Something a test needs is not installed: fail in CI (``CI`` set), skip locally."""
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def require_binary(name: str) -> str:
    """The binary's path; in CI a missing binary fails the test, locally it skips it."""
    path = find_binary(name)
    if path is None:
        missing(f"`{name}` not found: {install_hint(name)}")
    return path
