"""One ``saga up`` per state directory: a second one would start a second stack over the same
ledger, configs and logs. The lock is an ``flock`` on ``<state>/up.lock``, released by the kernel
when its holder exits however it exits; the file names the holder's PID for the message."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from runtime.errors import StackError

LOCK_FILE = "up.lock"


@contextlib.contextmanager
def hold_state_dir(state_dir: Path) -> Iterator[None]:
    """Hold the state directory for this process, or :class:`StackError` naming its holder."""
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = state_dir / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise StackError(
                f"{state_dir} is in use by another `saga up` (pid {holder}): stop it first"
                " (Ctrl-C in its terminal, or `kill` that pid), or pass another --state-dir"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock
