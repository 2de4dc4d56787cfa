"""``link_down``: a link refuses connections and drops the open ones for a while.

Its effect is the bytes of open connections it cut; on a link whose clients dial per request,
where no connection was open, whether the link carried traffic just before it went down or just
after it came back (from the sampler's Toxiproxy readings).
"""

from __future__ import annotations

import random
import time
from typing import Any

from chaos.nemesis.base import Conditions, FaultBase, FaultRecord, Nemesis, Parts, Target
from chaos.nemesis.toxic import EXPLORED_LINKS
from chaos.scenario.types import Link


class LinkDownFault(FaultBase, tag="link_down", tag_field="kind", kw_only=True):
    """A link refuses connections and drops the open ones for a while."""

    link: Link
    """The Toxiproxy link taken down (``db``, account workers to PostgreSQL: cluster backend
    only)."""


def link_down_effect(
    record: FaultRecord, link: str, samples: list[dict[str, Any]], around_s: float = 3.0
) -> tuple[str, bool]:
    """A link taken down, on which no open connection was cut, had an effect if it carried
    traffic just before it went down or just after it came back: something was using it (from
    the sampler's Toxiproxy readings)."""
    if record.applied_at_s is None or record.reverted_at_s is None:
        return "never applied", False
    readings = [
        (s["t"], s["links"][link]) for s in samples if s.get("links") and link in s["links"]
    ]

    def grew(start: float, end: float) -> int:
        inside = [b for t, b in readings if start <= t <= end]
        return max(inside) - min(inside) if len(inside) > 1 else 0

    before = grew(record.applied_at_s - around_s, record.applied_at_s + 0.5)
    after = grew(record.reverted_at_s, record.reverted_at_s + around_s)
    text = f"{before} bytes on {link} in the {around_s:g} s before it went down, {after} after"
    return text, before + after > 0


class LinkDownNemesis(Nemesis[LinkDownFault]):
    """Disables the Toxiproxy proxy at the start, enables it at the end."""

    fault_type = LinkDownFault
    explored = True
    virtual_fields = ("provider_outage", "notify_outage")
    virtual_note = "a service unreachable for a window is an outage of it"

    @classmethod
    def describe(cls, fault: LinkDownFault) -> str:
        return f"link {fault.link} down"

    @classmethod
    def parts(cls, fault: LinkDownFault) -> Parts:
        return Parts(links=(fault.link,))

    @classmethod
    def shape(cls, fault: LinkDownFault, conditions: Conditions) -> None:
        conditions.links_down.append((fault.at_s, fault.at_s + fault.duration_s, fault.link))

    @classmethod
    def generate(cls, rng: random.Random, span: float) -> dict[str, Any]:
        return {"link": rng.choice(EXPLORED_LINKS)}

    def apply(self) -> None:
        links = self.target.links()
        carried = links.traffic().get(self.fault.link, 0)
        links.set_enabled(self.fault.link, False)
        time.sleep(0.3)  # Toxiproxy counts a cut connection's bytes as it closes
        cut = links.traffic().get(self.fault.link, 0) - carried
        self.record.effect, self.record.effective = f"cut {cut} bytes of open connections", cut > 0

    def revert(self) -> None:
        self.target.links().set_enabled(self.fault.link, True)

    def settle(self, samples: list[dict[str, Any]]) -> None:
        if self.record.effective:
            return
        # No open connection was cut (clients that dial per request): was the link in use
        # around the window?
        seen, used = link_down_effect(self.record, self.fault.link, samples)
        self.record.effect = "; ".join(filter(None, [self.record.effect, seen]))
        self.record.effective = used

    @classmethod
    def restore(cls, target: Target) -> list[str]:
        if target.stack.links is not None:
            target.stack.links.reset()  # every link up
        return []
