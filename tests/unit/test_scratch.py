"""Scratch state directories: removed after a run that succeeded, kept after one that did not."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest

from runtime.scratch import in_scratch_state_dir, scratch_state_dir
from tests.state_dirs import fixture_state_dir


def test_a_scratch_directory_is_removed_once_the_run_succeeded() -> None:
    with scratch_state_dir("saga-test-") as scratch:
        (scratch.path / "temporal.log").write_text("ok")
    assert not scratch.path.exists()


def test_a_run_that_raised_keeps_its_logs_and_says_where(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(RuntimeError), scratch_state_dir("saga-test-") as scratch:
        (scratch.path / "temporal.log").write_text("the server died")
        raise RuntimeError("boom")
    try:
        assert (scratch.path / "temporal.log").read_text() == "the server died"
        assert f"state and logs kept in {scratch.path}" in capsys.readouterr().err
    finally:
        (scratch.path / "temporal.log").unlink()
        scratch.path.rmdir()


def test_a_refusal_before_anything_started_leaves_nothing_behind() -> None:
    with pytest.raises(ValueError), scratch_state_dir("saga-test-") as scratch:
        raise ValueError("--rates: every rate must be > 0")
    assert not scratch.path.exists()


def test_a_command_that_failed_keeps_its_directory_and_one_that_passed_does_not() -> None:
    seen: list[Path] = []

    @in_scratch_state_dir("saga-test-")
    def command(args: argparse.Namespace) -> int:
        path = Path(args.state_dir)
        (path / "api.log").write_text("log")
        seen.append(path)
        return int(args.code)

    assert command(argparse.Namespace(state_dir=None, code=0)) == 0
    assert command(argparse.Namespace(state_dir=None, code=1)) == 1
    passed, failed = seen
    assert not passed.exists()
    try:
        assert (failed / "api.log").exists()
    finally:
        (failed / "api.log").unlink()
        failed.rmdir()


def test_a_directory_the_user_named_is_never_removed(tmp_path: Path) -> None:
    @in_scratch_state_dir("saga-test-")
    def command(args: argparse.Namespace) -> int:
        assert args.state_dir == str(tmp_path)
        return 0

    assert command(argparse.Namespace(state_dir=str(tmp_path))) == 0
    assert tmp_path.is_dir()


def test_calibration_stacks_run_in_the_named_directory_or_a_scratch_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``saga simulate calibrate|validate --state-dir D`` keeps the stack in D; without it the
    stack's scratch state goes once it stops."""
    from chaos.perf.simulation import measure

    used: list[Path] = []

    class Stack:
        def __init__(self, options: Any) -> None:
            used.append(options.state_dir)

        def __enter__(self) -> Stack:
            (used[-1] / "temporal.log").write_text("log")
            return self

        def __exit__(self, *exc: object) -> None:
            pass

    monkeypatch.setattr(measure, "EmbeddedStack", Stack)
    with measure._stack("saga-test-", "dev", tmp_path):
        pass
    with measure._stack("saga-test-", "dev"):
        assert used[-1] != tmp_path and used[-1].is_dir()
    assert used[0] == tmp_path and (tmp_path / "temporal.log").exists()
    assert not used[1].exists()


class _Session:
    testsfailed = 0


class _Reporter:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def write_line(self, line: str) -> None:
        self.lines.append(line)


class _Request:
    """What fixture_state_dir reads of a pytest FixtureRequest."""

    def __init__(self) -> None:
        self.session = _Session()
        self.reporter = _Reporter()
        self.config = argparse.Namespace(
            pluginmanager=argparse.Namespace(get_plugin=lambda name: self.reporter)
        )


def test_a_fixture_directory_goes_when_its_tests_passed() -> None:
    request = _Request()
    with fixture_state_dir(request, "saga-test-") as path:  # type: ignore[arg-type]
        (path / "api.log").write_text("ok")
    assert not path.exists() and request.reporter.lines == []


def test_a_fixture_directory_stays_when_a_test_in_it_failed() -> None:
    request = _Request()
    with fixture_state_dir(request, "saga-test-") as path:  # type: ignore[arg-type]
        (path / "api.log").write_text("a traceback")
        request.session.testsfailed += 1
    try:
        assert (path / "api.log").read_text() == "a traceback"
        assert request.reporter.lines == [f"a test failed: stack state and logs kept in {path}"]
    finally:
        (path / "api.log").unlink()
        path.rmdir()
