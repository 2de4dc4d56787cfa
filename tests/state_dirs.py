"""State directories of the stacks test fixtures start: removed after a clean run, kept (and
their path printed) when a test that used them failed, for its logs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from runtime.scratch import scratch_state_dir


@contextmanager
def fixture_state_dir(request: pytest.FixtureRequest, prefix: str) -> Iterator[Path]:
    """A fresh ``prefix*`` directory for the fixture's lifetime; kept if a test failed in it."""
    failed_before = request.session.testsfailed
    with scratch_state_dir(prefix) as scratch:
        yield scratch.path
        scratch.keep = request.session.testsfailed > failed_before
        if scratch.keep:
            # Past pytest's capture, which would hide a fixture's teardown output.
            reporter = request.config.pluginmanager.get_plugin("terminalreporter")
            if reporter is not None:
                reporter.write_line(f"a test failed: stack state and logs kept in {scratch.path}")
