"""The harness's ``saga`` subcommands, registered with the runtime's CLI through the
``saga.commands`` entry point group (``pyproject.toml``), so ``runtime`` never imports ``chaos``."""

from __future__ import annotations

from typing import Any

from chaos.explore.cli import add_explore_command
from chaos.mutants.cli import add_mutants_commands
from chaos.perf.cli import add_load_command
from chaos.perf.simulation.cli import add_simulate_commands
from chaos.run.cli import add_scenario_commands
from chaos.verdicts.cli import add_check_command, add_report_command


def add_commands(sub: Any) -> None:
    """``scenario``, ``check``, ``mutants``, ``explore``, ``load``, ``bench`` and ``simulate``."""
    add_scenario_commands(sub)
    add_check_command(sub)
    add_report_command(sub)
    add_mutants_commands(sub)
    add_explore_command(sub)
    add_load_command(sub)
    add_simulate_commands(sub)
