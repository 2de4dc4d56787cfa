"""A user's common mistakes get one line that says what to do, and a non-zero exit: never a
traceback (issue 30, UX)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from chaos.errors import ScenarioError
from chaos.scenario.format import parse_scenario
from runtime.cli import _hint, main
from runtime.errors import ApiClientError


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
    from runtime.binaries import install_hint

    assert "`make toxiproxy`" in install_hint("toxiproxy-server")


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["pay", "--user", "alice", "--amount", "5", "--method", "card"], "cannot read config"),
        (["status", "pay_x"], "cannot read config"),
        (["cancel", "pay_x"], "cannot read config"),
        (["reconcile", "--dry-run"], "cannot read config"),
        (["check", "{tmp}/no-journal.json"], "no such file"),
        (["scenario", "run", "no-such-scenario"], "no scenario named"),
        (["load", "--rate", "1", "--duration", "1s", "--attach", "{tmp}"], "no running stack"),
        (["explore", "--virtual", "--replay", "{tmp}/none.json"], "neither a schedule seed"),
        (["mutants", "run", "no-such-mutant"], "unknown mutant"),
        (["simulate", "run", "no-such-scenario"], "no scenario named"),
        (["report", "{tmp}/no-journal.json"], "no such file"),
        (["report", "{tmp}"], "Is a directory"),
        (["bench", "--rates", "fast"], "--rates: expected numbers"),
        (["bench", "--bisect", "-1"], "--bisect: must be >= 0"),
        (["load", "--rate", "0"], "--rate: must be > 0"),
        (["up", "--ledger", "mysql"], "invalid choice: 'mysql'"),
        (["pay", "--amount", "5"], "required: --user"),
        (["histories", "record", "--out", "/proc/no/such/dir"], "No such file or directory"),
        (["demo", "--verbose"], "unrecognized arguments: --verbose"),
    ],
    ids=lambda v: "-".join(v[:2]) if isinstance(v, list) else "",
)
def test_every_subcommands_common_mistake_is_one_line_and_exit_2(
    argv: list[str], says: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 30: a walk over the subcommands a new user reaches for first, each used wrongly
    (no stack running, a file that is not there, a name that does not exist)."""
    args = ["--state-dir", str(tmp_path / "no-stack"), *(a.format(tmp=tmp_path) for a in argv)]
    code, err = saga(capsys, *args)
    assert code == 2
    line = one_line(err)
    assert line.startswith("saga") and says in line
