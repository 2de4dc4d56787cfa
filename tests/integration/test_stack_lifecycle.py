"""The embedded stack stops every process it started."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from runtime.embedded import EmbeddedStack, StackOptions
from tests.binaries import require_binary

pytestmark = pytest.mark.integration


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_stop_leaves_no_process_behind(tmp_path: Path) -> None:
    require_binary("temporal")
    stack = EmbeddedStack(StackOptions(state_dir=tmp_path, ui=False))
    try:
        stack.start()
        pids = [p.popen.pid for p in stack.processes.values() if p.popen]
        assert len(pids) >= 9
        # Its configs (secrets), ledger, credentials and logs: the owner's alone (issue 30).
        assert tmp_path.stat().st_mode & 0o777 == 0o700
    finally:
        stack.stop()
    assert not [pid for pid in pids if alive(pid)]


def test_a_harness_killed_with_sigkill_leaves_no_process_behind(tmp_path: Path) -> None:
    """Every child asks the kernel to kill it when its parent dies (PR_SET_PDEATHSIG)."""
    require_binary("temporal")
    saga = [require_binary("saga"), "up", "--headless"]
    harness = subprocess.Popen(
        [*saga, "--state-dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    table = tmp_path / "processes.json"
    pids: list[int] = []
    try:
        deadline = time.monotonic() + 120
        while not pids and time.monotonic() < deadline:
            assert harness.poll() is None, "saga up exited early"
            if table.exists():
                with contextlib.suppress(ValueError):
                    pids = list(json.loads(table.read_text()).values())
            time.sleep(0.5)
        assert len(pids) >= 9, f"no process table after 120 s: {pids}"
    finally:
        harness.kill()  # SIGKILL: no handler, no cleanup in the harness
        harness.wait(10)
    deadline = time.monotonic() + 15
    while [pid for pid in pids if alive(pid)] and time.monotonic() < deadline:
        time.sleep(0.2)
    survivors = [pid for pid in pids if alive(pid)]
    for pid in survivors:  # never leave them running, even when the test fails
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    assert not survivors
