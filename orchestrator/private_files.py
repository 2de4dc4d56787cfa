"""Files that hold secrets or money (keys, the config with the webhook secret, the ledger) are
created mode 0600, whatever the umask."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def write_private(path: Path, data: bytes) -> None:
    """Replace ``path`` atomically with ``data`` in a file only its owner can read."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    tmp.replace(path)  # readers never see half a file


def create_private(path: Path) -> None:
    """Create an empty ``path`` mode 0600 unless it exists (SQLite then keeps the mode, and gives
    its -wal and -shm files the same)."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
