"""Scratch state directories: where a harness command's own stack keeps its state and logs.

A directory the user names (``--state-dir``) is always kept. Otherwise the command gets a fresh
temporary one, removed once the command has succeeded and kept, with its path printed, when it
failed or raised, so the failed run's process logs can still be read. (Each stack's state is tens
to hundreds of MB: kept after every run, they filled ``/tmp`` with gigabytes.)
"""

from __future__ import annotations

import functools
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Command = Callable[[Any], int]


@dataclass
class ScratchDir:
    """A temporary state directory; set ``keep`` to keep it after a run that went wrong."""

    path: Path
    keep: bool = False


@contextmanager
def scratch_state_dir(prefix: str) -> Iterator[ScratchDir]:
    """A fresh temporary directory named ``prefix*``: removed on leaving the block, unless the
    block raised or set ``keep`` and something was written in it; then its path goes to
    stderr."""
    scratch = ScratchDir(Path(tempfile.mkdtemp(prefix=prefix)))
    try:
        yield scratch
    except BaseException:
        scratch.keep = True
        raise
    finally:
        # A command refused before it started anything leaves nothing worth keeping.
        if scratch.keep and any(scratch.path.iterdir()):
            print(f"state and logs kept in {scratch.path}", file=sys.stderr)
        else:
            shutil.rmtree(scratch.path, ignore_errors=True)


def in_scratch_state_dir(prefix: str) -> Callable[[Command], Command]:
    """For a command taking ``args.state_dir``: without one, run it in a
    :func:`scratch_state_dir`, kept when the command exits non-zero."""

    def wrap(command: Command) -> Command:
        @functools.wraps(command)
        def run(args: Any) -> int:
            if getattr(args, "state_dir", None):
                return command(args)
            with scratch_state_dir(prefix) as scratch:
                args.state_dir = str(scratch.path)
                code = command(args)
                scratch.keep = code != 0
                return code

        return run

    return wrap
