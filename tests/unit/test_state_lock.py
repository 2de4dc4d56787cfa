"""One ``saga up`` per state directory (issue 30): a second is refused, naming the first's PID."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from runtime.errors import StackError
from runtime.state_lock import LOCK_FILE, hold_state_dir

HOLD = "from pathlib import Path; import sys, time; from runtime.state_lock import hold_state_dir\n"
HOLD += "with hold_state_dir(Path(sys.argv[1])):\n    print('held', flush=True); time.sleep(60)\n"


def test_a_second_holder_is_refused_with_the_first_ones_pid(tmp_path: Path) -> None:
    first = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert first.stdout is not None and first.stdout.readline().strip() == "held"
        refused = rf"in use by another `saga up` \(pid {first.pid}\)"
        with pytest.raises(StackError, match=refused), hold_state_dir(tmp_path):
            pass
    finally:
        first.kill()
        first.wait()
    deadline = time.monotonic() + 5
    while True:  # the kernel released the lock with the process
        try:
            with hold_state_dir(tmp_path):
                break
        except StackError:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    assert (tmp_path / LOCK_FILE).stat().st_mode & 0o777 == 0o600
