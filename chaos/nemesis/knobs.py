"""``knobs``: change a simulator's knobs mid-run (an error burst, declines, slow fraud, a
notification outage), restored to the scenario's own at the end.

Its effect is the requests the simulator served with the changed knobs.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any, Literal

import msgspec

from chaos.errors import ScenarioError
from chaos.nemesis.base import Conditions, FaultBase, Nemesis
from chaos.scenario.errors import located
from runtime.admin_client import patch_knobs, served

if TYPE_CHECKING:
    from chaos.explore.virtual.schedule import Schedule
    from chaos.scenario.format import Scenario

#: A notification outage that outlasts a notice's first attempts (the virtual world's
#: ``notify_failures`` >= 3, handed off).
NOTIFY_OUTAGE_S = 20.0


class KnobsFault(FaultBase, tag="knobs", tag_field="kind", kw_only=True):
    """Change a simulator's knobs mid-run, restored after ``duration_s``."""

    simulator: Literal["provider", "fraud", "notifications"]
    """Whose knobs change."""
    set: dict[str, Any]
    """The knobs to change (validated as the simulator's knobs)."""


class KnobsNemesis(Nemesis[KnobsFault]):
    """Patches the simulator's knobs through its admin API, and patches them back."""

    fault_type = KnobsFault
    explored = True
    virtual_fields = ("notify_failures", "charge_failures", "fraud")

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._served_before = 0

    @classmethod
    def describe(cls, fault: KnobsFault) -> str:
        return f"{fault.simulator} knobs {fault.set}"

    @classmethod
    def check(cls, fault: KnobsFault, scenario: Scenario, source: str, where: str) -> None:
        base = getattr(scenario.simulators, fault.simulator)
        merged = {**msgspec.to_builtins(base), **fault.set}
        try:
            msgspec.convert(merged, type(base))
        except msgspec.ValidationError as exc:
            raise ScenarioError(located(source, type(base), merged, exc, f"$.{where}.set")) from exc

    @classmethod
    def shape(cls, fault: KnobsFault, conditions: Conditions) -> None:
        end = fault.at_s + fault.duration_s
        conditions.knobs.append((fault.at_s, end, fault.simulator, fault.set))

    @classmethod
    def generate(cls, rng: random.Random, span: float) -> dict[str, Any]:
        return {"simulator": "provider", "set": {"error_rate": 0.8}}

    @classmethod
    def from_virtual(cls, schedule: Schedule, missing: list[str]) -> list[dict[str, Any]]:
        if not any(p.notify_failures >= 3 for p in schedule.payments):
            return []
        # Past the notice's first attempts; its later retries (durable-notice) deliver it.
        return [
            {
                "kind": "knobs",
                "simulator": "notifications",
                "set": {"failure_rate": 1.0},
                "at_s": 0,
                "duration_s": NOTIFY_OUTAGE_S,
            }
        ]

    def apply(self) -> None:
        url = self.target.admin_url(self.fault.simulator)
        self._served_before = served(url)
        patch_knobs(url, **self.fault.set)

    def revert(self) -> None:
        fault, url = self.fault, self.target.admin_url(self.fault.simulator)
        count = served(url) - self._served_before
        self.record.effect = f"{fault.simulator} served {count} requests with the changed knobs"
        self.record.effective = count > 0
        base = msgspec.to_builtins(getattr(self.target.scenario.simulators, fault.simulator))
        patch_knobs(url, **{k: base[k] for k in fault.set})
