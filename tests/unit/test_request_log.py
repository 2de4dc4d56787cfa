"""The API's request log: a payment id whose saga was started is never started again (issue 34,
item 3), and what a key was first used with is kept for the conflict check."""

from __future__ import annotations

import stat
from pathlib import Path

from orchestrator.api.request_log import RecordedRequest, RequestLog


def test_the_first_claim_wins_and_started_outlives_the_process(tmp_path: Path) -> None:
    path = tmp_path / "requests.db"
    log = RequestLog(path)
    assert log.claim("pay_1", "alice", "fp-a") == RecordedRequest("alice", "fp-a", False)
    assert log.claim("pay_1", "alice", "fp-b") == RecordedRequest("alice", "fp-a", False)
    log.mark_started("pay_1")
    again = RequestLog(path)  # a restarted API reads the same record
    assert again.claim("pay_1", "alice", "fp-a").started
    assert not again.claim("pay_2", "bob", "fp-c").started


def test_the_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "requests.db"
    RequestLog(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
