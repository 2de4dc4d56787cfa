"""Errors of the chaos harness (tree in the package docstring)."""

from orchestrator.errors import SagaError


class ChaosError(SagaError):
    """Root of the harness's errors."""


class ScenarioError(ChaosError):
    """A scenario file is missing or invalid; the message names the file and the YAML path."""


class SteadyStateError(ChaosError):
    """The system was not healthy before the scenario started."""
