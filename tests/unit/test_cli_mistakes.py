"""A user's common mistakes get one line that says what to do, and a non-zero exit: never a
traceback (issue 30, UX)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from chaos.errors import ScenarioError
from chaos.scenario import parse_scenario
from orchestrator.errors import ApiClientError
from runtime.cli import _hint, main


def saga(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int | str | None, str]:
    """``saga argv``: its exit code and its stderr."""
    with pytest.raises(SystemExit) as exit_:
        main(list(argv))
    return exit_.value.code, capsys.readouterr().err


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_checking_a_directory_instead_of_a_journal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = saga(capsys, "check", str(tmp_path))
    assert code == 2
    assert one_line(err) == f"saga: {tmp_path}: Is a directory"


def test_a_misspelt_scenario_name_gets_a_suggestion(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = saga(capsys, "scenario", "run", "happy-pth")
    assert code == 2
    assert "did you mean happy-path?" in one_line(err)


def test_a_stack_that_is_not_running_is_named_with_what_to_do() -> None:
    refused = httpx.ConnectError(
        "refused", request=httpx.Request("POST", "http://127.0.0.1:1/payments")
    )
    hint = _hint(refused)
    assert hint is not None and "http://127.0.0.1:1/payments" in hint and "saga up" in hint
    assert _hint(TimeoutError()) == "timed out (the stack is slow or stopped)"
    assert _hint(ValueError("a bug")) is None  # a bug keeps its traceback


def test_a_field_the_api_refused_is_named() -> None:
    problem = {
        "title": "Invalid request",
        "detail": "Expected int >= 1",
        "errors": [{"key": "amount", "source": "body", "message": "Expected int >= 1"}],
    }
    assert str(ApiClientError(422, problem)) == "HTTP 422: amount: Expected int >= 1"


def test_a_scenario_with_a_key_written_twice_is_refused_with_its_line() -> None:
    text = "name: x\nworkload: {payments: 1}\nseed: 1\nworkload: {payments: 2}\n"
    with pytest.raises(ScenarioError, match=r"duplicate key 'workload' \(first on line 2\)"):
        parse_scenario(text, "scenarios/x.yaml")


def test_the_missing_toxiproxy_message_says_make_toxiproxy() -> None:
    from runtime.links import INSTALL_HINT

    assert "`make toxiproxy`" in INSTALL_HINT
