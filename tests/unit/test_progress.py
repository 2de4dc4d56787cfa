"""Progress of a long command: plain ``[n/N]`` lines with the time left off a terminal, a live
``rich`` line on one."""

from __future__ import annotations

import io
import re

from rich.console import Console

from runtime.progress import Steps, time_left


def test_off_a_terminal_each_step_is_one_plain_line_with_the_time_left() -> None:
    lines: list[str] = []
    with Steps("scenarios", 3, lines.append, live=False) as steps:
        for name in ("a", "b", "c"):
            steps.begin(name)
            steps.advance()
    assert lines[0] == "[1/3] a"  # nothing to estimate from yet
    assert re.fullmatch(r"\[2/3\] b \(\d+s elapsed, about \d+s to go\)", lines[1]), lines[1]
    assert lines[2].startswith("[3/3] c (")
    assert steps.done == 3


def test_every_n_steps_prints_one_line_in_n() -> None:
    lines: list[str] = []
    with Steps("schedules", 10, lines.append, live=False, every=4) as steps:
        for _ in range(10):
            steps.begin("0 violation(s)")
            steps.advance()
    assert [line.split()[0] for line in lines] == ["[1/10]", "[5/10]", "[9/10]"]


def test_the_estimate_is_the_mean_step_times_the_steps_left() -> None:
    import time

    began = time.monotonic() - 10
    assert time_left(2, 6, began) == "10s elapsed, about 20s to go"


def test_on_a_terminal_the_live_line_shows_position_elapsed_and_eta() -> None:
    lines: list[str] = []
    screen = io.StringIO()
    terminal = Console(file=screen, force_terminal=True, width=120)
    with Steps("mutants", 4, lines.append, live=True, console=terminal) as steps:
        steps.begin("mutant skip-refund")
        steps.advance()
        assert steps._bar is not None
        steps._bar.refresh()
    assert lines == []  # nothing printed line by line: the live line carries it
    drawn = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen.getvalue())
    assert "mutants [1/4] mutant skip-refund" in drawn, drawn
    assert "1/4" in drawn and "0:00:00" in drawn and "eta" in drawn, drawn
