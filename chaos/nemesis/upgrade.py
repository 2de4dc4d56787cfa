"""``upgrade``: roll out another worker build mid-run (workflow versioning under load).

Judged by the ``upgrade_paths`` expectation (each payment took its build's path, no workflow
task failed with non-determinism), not by an effect of its own.
"""

from __future__ import annotations

from chaos.nemesis.base import Driver, FaultBase, Nemesis, Target
from chaos.scenario.types import Build
from orchestrator.workflows.builds import CURRENT_BUILD


class UpgradeFault(FaultBase, tag="upgrade", tag_field="kind", kw_only=True):
    """Roll out ``build``: start its workers, make it the current deployment version, wait
    ``duration_s`` for the old build to drain, stop the old workers."""

    build: Build
    """The build rolled out."""


class UpgradeNemesis(Nemesis[UpgradeFault]):
    """Deploys the build at the start; the old build drains over the window."""

    fault_type = UpgradeFault
    virtual_note = (
        "the virtual explorer runs the current build only; the replay gate checks old histories"
    )

    @classmethod
    def describe(cls, fault: UpgradeFault) -> str:
        return f"roll out build {fault.build}"

    @classmethod
    def refusal(cls, fault: UpgradeFault, driver: Driver) -> str | None:
        return "an upgrade (compose runs one build)" if driver == "compose" else None

    def apply(self) -> None:
        self.target.stack.deploy(self.fault.build, drain_s=self.fault.duration_s)

    @classmethod
    def restore(cls, target: Target) -> list[str]:
        if target.stack.build == CURRENT_BUILD:
            return []
        target.stack.deploy(CURRENT_BUILD, drain_s=1.0)
        return [f"rolled out the current build {CURRENT_BUILD}"]
