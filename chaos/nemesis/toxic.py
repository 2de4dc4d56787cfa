"""``toxic``: a Toxiproxy toxic on a link, on every request or on a seeded share of them.

A partial toxic (``toxicity`` < 1) sits on a twin of the link, which the link's clients use for
a seeded share of their requests (``orchestrator.partial_links``). Its effect is the bytes that
went through the toxic while it was on.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import msgspec

from chaos.nemesis.base import Conditions, Driver, FaultBase, Nemesis, Parts, Target, refuse
from chaos.scenario.types import Link, Rate
from orchestrator.partial_links import FILE_NAME as PARTIAL_LINKS_FILE
from orchestrator.partial_links import write_table
from runtime.links import TWIN
from runtime.processes import free_port

if TYPE_CHECKING:
    from chaos.scenario.format import Scenario

ToxicType = Literal[
    "latency", "bandwidth", "timeout", "reset_peer", "slicer", "limit_data", "slow_close"
]
TOXIC_ATTRIBUTES: dict[str, set[str]] = {
    "latency": {"latency", "jitter"},
    "bandwidth": {"rate"},
    "timeout": {"timeout"},
    "reset_peer": {"timeout"},
    "slicer": {"average_size", "size_variation", "delay"},
    "limit_data": {"bytes"},
    "slow_close": {"delay"},
}
#: A toxic does nothing useful without these attributes.
TOXIC_REQUIRED: dict[str, set[str]] = {
    "latency": {"latency"},
    "bandwidth": {"rate"},
    "timeout": {"timeout"},
    "reset_peer": set(),
    "slicer": {"average_size"},
    "limit_data": {"bytes"},
    "slow_close": {"delay"},
}
#: Links that carry long-lived connections, not HTTP requests (partial toxicity cannot apply).
STREAM_LINKS = {"temporal": "gRPC streams", "db": "PostgreSQL connections"}
#: Links the real-stack explorer draws faults on.
EXPLORED_LINKS = ("provider", "callbacks", "fraud", "notify")


class ToxicFault(FaultBase, tag="toxic", tag_field="kind", kw_only=True):
    """A Toxiproxy toxic on a link (attributes as Toxiproxy names them, e.g. ``latency`` ms)."""

    link: Link
    """The Toxiproxy link between two services."""
    toxic: ToxicType
    """The Toxiproxy toxic type."""
    attributes: dict[str, int] = msgspec.field(default_factory=dict)
    """The toxic's attributes as Toxiproxy names them: latency {latency, jitter}, bandwidth {rate},
    timeout {timeout}, reset_peer {timeout}, slicer {average_size, size_variation, delay},
    limit_data {bytes}, slow_close {delay}; the first of each is required."""
    stream: Literal["upstream", "downstream"] = "downstream"
    """``downstream``: toward the client; ``upstream``: toward the server."""
    toxicity: Rate = 1.0
    """Share of requests hit, drawn per request from the scenario's seed (not on ``temporal``)."""


def partial_path(target: Target) -> Path:
    """The table of partial links the stack's clients read."""
    return target.state_dir / PARTIAL_LINKS_FILE


def _partial_table(target: Target) -> dict[str, dict[str, Any]]:
    try:
        table: dict[str, dict[str, Any]] = json.loads(partial_path(target).read_text())
    except (OSError, ValueError):
        return {}
    return table


class ToxicNemesis(Nemesis[ToxicFault]):
    """Adds the toxic at the start, removes it at the end; measures the bytes it saw."""

    fault_type = ToxicFault
    explored = True
    virtual_fields = ("latency_s", "charge_failures")
    virtual_note = "per-payment latency, and attempts the provider answers 503, stand for toxics"

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._carried_before = 0

    @classmethod
    def describe(cls, fault: ToxicFault) -> str:
        attrs = ", ".join(f"{k}={v}" for k, v in fault.attributes.items())
        share = f", toxicity {fault.toxicity:g}" if fault.toxicity < 1 else ""
        return (
            f"{fault.toxic} on {fault.link} ({fault.stream}{', ' + attrs if attrs else ''}{share})"
        )

    @classmethod
    def check(cls, fault: ToxicFault, scenario: Scenario, source: str, where: str) -> None:
        allowed = TOXIC_ATTRIBUTES[fault.toxic]
        for key, value in fault.attributes.items():
            if value < 0:
                refuse(source, f"{where}.attributes.{key}", "expected >= 0")
            if key not in allowed:
                refuse(
                    source,
                    f"{where}.attributes.{key}",
                    f"not an attribute of the {fault.toxic} toxic (expected one of:"
                    f" {', '.join(sorted(allowed))})",
                )
        if fault.link in STREAM_LINKS and fault.toxicity < 1:
            refuse(
                source,
                f"{where}.toxicity",
                f"partial toxicity acts per HTTP request, and the {fault.link} link carries"
                f" {STREAM_LINKS[fault.link]}: use 1.0 there",
            )
        missing = TOXIC_REQUIRED[fault.toxic] - set(fault.attributes)
        if missing:
            refuse(
                source,
                f"{where}.attributes",
                f"the {fault.toxic} toxic needs {', '.join(sorted(missing))}",
            )

    @classmethod
    def parts(cls, fault: ToxicFault) -> Parts:
        return Parts(links=(fault.link,))

    @classmethod
    def refusal(cls, fault: ToxicFault, driver: Driver) -> str | None:
        if driver == "compose" and fault.toxicity < 1:
            return "a partial toxic (a deployment honours no partial-link table)"
        return None

    @classmethod
    def shape(cls, fault: ToxicFault, conditions: Conditions) -> None:
        if fault.toxic == "latency":
            window = (fault.at_s, fault.at_s + fault.duration_s)
            conditions.delays.append((*window, fault.link, fault.attributes, fault.toxicity))

    @classmethod
    def generate(cls, rng: random.Random, span: float) -> dict[str, Any]:
        toxic = rng.choice(["latency", "timeout", "reset_peer"])
        attributes = {"latency": {"latency": 1500}, "timeout": {"timeout": 500}}.get(toxic, {})
        return {
            "link": rng.choice(EXPLORED_LINKS),
            "toxic": toxic,
            "attributes": attributes,
            "toxicity": rng.choice([0.5, 1.0]),
        }

    def apply(self) -> None:
        fault, links = self.fault, self.target.links()
        if fault.toxicity < 1:
            self._apply_partial()
            return
        self._carried_before = links.traffic().get(fault.link, 0)
        links.add_toxic(
            fault.link, f"fault{self.record.index}", fault.toxic, fault.attributes, fault.stream
        )

    def _apply_partial(self) -> None:
        fault, links, target = self.fault, self.target.links(), self.target
        twin = links.open_twin(fault.link, free_port())
        links.add_toxic(
            twin, f"fault{self.record.index}", fault.toxic, fault.attributes, fault.stream
        )
        self._carried_before = links.traffic().get(twin, 0)
        table = _partial_table(target)
        table[str(links.listen_port(fault.link))] = {
            "link": fault.link,
            "twin_port": links.listen_port(twin),
            "toxicity": fault.toxicity,
            "seed": target.scenario.seed,
            "token": f"{id(self)}:{self.record.index}",
        }
        write_table(partial_path(target), table)

    def revert(self) -> None:
        fault, record, links = self.fault, self.record, self.target.links()
        if fault.link == "temporal":
            record.effect = "not measured: Toxiproxy counts the gRPC streams' bytes at close"
        else:
            through = fault.link + TWIN if fault.toxicity < 1 else fault.link
            carried = links.traffic().get(through, 0) - self._carried_before
            share = f" (the {fault.toxicity:.0%} drawn)" if fault.toxicity < 1 else ""
            record.effect = f"{carried} bytes through {fault.link}{share} while the toxic was on"
            record.effective = carried > 0
        if fault.toxicity < 1:
            port = str(links.listen_port(fault.link))
            table = _partial_table(self.target)
            write_table(partial_path(self.target), {k: v for k, v in table.items() if k != port})
            links.close_twin(fault.link)
        else:
            links.remove_toxic(fault.link, f"fault{self.record.index}")

    @classmethod
    def restore(cls, target: Target) -> list[str]:
        path = partial_path(target)
        if path.exists():
            path.unlink()
        if target.stack.links is not None:
            target.stack.links.reset()
        return []
