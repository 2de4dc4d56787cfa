"""What every fault kind provides (:class:`Nemesis`), and what it acts on (:class:`Target`).

A fault kind is one module of this package holding everything about it: the scenario struct
(a :class:`FaultBase` subclass, its docstrings feed the generated format reference), the rules
msgspec cannot express (``check``), what it needs from a stack (``parts``) and which drivers
cannot do it (``refusal``), how it breaks and restores a running stack (``apply``, ``revert``,
``restore``) and the measured proof that it took effect (``record.effect``), what it does to
the SimPy model (``shape``), how the real-stack explorer draws it (``generate``), and which
fields of the virtual world's schedule are its counterpart (``virtual_fields``, ``from_virtual``).

One registry (:mod:`chaos.nemesis.registry`) lists the kinds; nothing outside this package
dispatches on a fault's type.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, NoReturn, TypeVar

from chaos.errors import ScenarioError
from chaos.scenario.types import NonNegative, Positive, Strict
from runtime.stack_view import RunningStack

if TYPE_CHECKING:
    from chaos.explore.virtual.schedule import Schedule
    from chaos.run.workload import PaymentRecord, WorkloadDriver
    from chaos.scenario.format import Scenario
    from runtime.links import Links

#: Where a scenario runs: a new stack of a backend, the one ``saga up`` runs, a docker-compose
#: deployment, or under ``saga load`` (k6 sends payments the scenario does not know).
Driver = Literal["dev", "cluster", "attached", "compose", "load"]
#: How often a poller reads the payments' steps (workflow and crash faults).
STEP_POLL_S = 0.1


class FaultBase(Strict, kw_only=True):
    """When a fault starts (seconds after the workload starts) and how long it lasts."""

    at_s: NonNegative = 0.0
    """Start, seconds after the workload starts."""
    duration_s: Positive = 5.0
    """How long the fault lasts before it is reverted."""
    expect_effect: bool = True
    """A fault whose effect the harness cannot see fails the run ("fault had no effect"),
    unless this is false (a fault that may legitimately touch nothing)."""


F = TypeVar("F", bound=FaultBase)


@dataclass(frozen=True)
class Parts:
    """What a fault needs a stack to run: processes and Toxiproxy links, by name."""

    processes: tuple[str, ...] = ()
    links: tuple[str, ...] = ()


@dataclass
class Conditions:
    """What a scenario's faults do to the SimPy model (``chaos.perf.simulation.model``), as windows
    of (start, end) seconds; each list keeps the faults' file order."""

    down: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    """Worker pools with no process, by pool."""
    knobs: list[tuple[float, float, str, dict[str, Any]]] = field(default_factory=list)
    """(start, end, simulator, knobs set)."""
    delays: list[tuple[float, float, str, dict[str, int], float]] = field(default_factory=list)
    """Latency toxics: (start, end, link, attributes, toxicity)."""
    links_down: list[tuple[float, float, str]] = field(default_factory=list)
    """(start, end, link)."""


@dataclass
class FaultRecord:
    """When a fault was applied and reverted, relative to the start of the workload."""

    index: int
    kind: str
    description: str
    planned_at_s: float
    planned_until_s: float
    started_at_s: float | None = None
    applied_at_s: float | None = None
    reverted_at_s: float | None = None
    error: str | None = None
    planned_targets: int | None = None
    """Workflow faults: payments chosen by the seed."""
    hit: list[str] = field(default_factory=list)
    """Workflow and crash faults: the payments hit (cancelled, terminated, or at their step
    when their worker was killed)."""
    last_hit_at_s: float | None = None
    effect: str | None = None
    """What the fault was seen to do (PIDs, requests served, bytes through a link)."""
    effective: bool | None = None
    """Whether that effect was seen; None for kinds judged by other verdicts (workflow,
    upgrade, ledger)."""


@dataclass
class Target:
    """The running stack a scenario's faults act on, and the run's own payments."""

    stack: RunningStack
    scenario: Scenario
    payments: list[PaymentRecord] = field(default_factory=list)
    """The workload's payments, as they are created (workflow and crash faults act on them)."""
    driver: WorkloadDriver | None = None
    """The workload's client (a ``delete`` reads a payment through it, then retries its POST)."""

    @property
    def state_dir(self) -> Path:
        """The stack's state directory (failpoints and partial-link tables live there)."""
        assert self.stack.config is not None
        return Path(self.stack.config.state_dir)

    def links(self) -> Links:
        """The stack's Toxiproxy links; an error if it runs without Toxiproxy."""
        if self.stack.links is None:
            raise RuntimeError("this fault needs Toxiproxy, and the stack runs without it")
        return self.stack.links

    def admin_url(self, simulator: str) -> str:
        """A simulator's admin API."""
        assert self.stack.config is not None
        urls = self.stack.config.admin_urls
        return {"provider": urls.provider, "fraud": urls.fraud, "notifications": urls.notify}[
            simulator
        ]


def refuse(source: str, path: str, problem: str) -> NoReturn:
    """A scenario error naming the file and the YAML path."""
    raise ScenarioError(f"{source}: {path}: {problem}")


async def sleep_until(deadline: float) -> None:
    """Sleep until ``time.monotonic()`` reaches ``deadline``."""
    await asyncio.sleep(max(0.0, deadline - time.monotonic()))


class Nemesis(Generic[F]):
    """One fault kind: what it checks, breaks, restores and measures.

    Class-level methods are pure (a scenario's checks, the model, the explorers); an instance
    is one fault of one run, with the state it needs between ``apply`` and ``revert``.
    """

    fault_type: ClassVar[type[FaultBase]]
    """The scenario struct of this kind."""
    virtual_fields: ClassVar[tuple[str, ...]] = ()
    """The virtual world's counterpart: fields of its ``Schedule`` or ``PaymentPlan``."""
    virtual_note: ClassVar[str] = ""
    explored: ClassVar[bool] = False
    """Whether ``saga explore --runs`` draws this kind (:meth:`generate`)."""
    cluster_only: ClassVar[bool] = False
    """Its faults break what only the cluster backend runs: ``saga explore --backend cluster``
    alone draws it, from a stream of its own (so the dev backend's seeds keep their draws)."""
    """What the virtual world does instead, when it has no field of its own for this kind."""

    def __init__(self, fault: F, record: FaultRecord, target: Target) -> None:
        self.fault = fault
        self.record = record
        self.target = target
        self.active = False
        """Applied and not yet reverted: the rollback reverts it."""

    # -- the scenario file and the stacks that can run it (pure) ---------------------------------

    @classmethod
    def kind(cls) -> str:
        """The ``kind`` tag of this fault in scenario files."""
        return str(cls.fault_type.__struct_config__.tag)

    @classmethod
    def describe(cls, fault: F) -> str:
        """A short human description."""
        raise NotImplementedError

    @classmethod
    def check(cls, fault: F, scenario: Scenario, source: str, where: str) -> None:
        """Refuse what msgspec cannot express (:func:`refuse`, with ``where`` as the path)."""

    @classmethod
    def parts(cls, fault: F) -> Parts:
        """The processes and links the fault acts on."""
        return Parts()

    @classmethod
    def refusal(cls, fault: F, driver: Driver) -> str | None:
        """Why ``driver`` cannot run this fault (None: it can)."""
        return None

    @classmethod
    def needs_reconciler(cls, fault: F) -> bool:
        """Whether only the reconciler can settle what this fault leaves."""
        return False

    @classmethod
    def lands_by_s(cls, fault: F) -> float | None:
        """When, after the workload started, work the fault delayed has surely landed (a stalled
        database call runs on after its activity gave up); None: nothing lands late."""
        return None

    # -- models and explorers (pure) -------------------------------------------------------------

    @classmethod
    def shape(cls, fault: F, conditions: Conditions) -> None:
        """Add what the fault does to the SimPy model's conditions (default: not modelled)."""

    @classmethod
    def generate(cls, rng: random.Random, span: float) -> dict[str, Any]:
        """One fault of this kind for ``saga explore --runs`` (its fields but the window), drawn
        from ``rng``; kinds with ``explored`` set give one."""
        raise NotImplementedError

    @classmethod
    def from_virtual(cls, schedule: Schedule, missing: list[str]) -> list[dict[str, Any]]:
        """This kind's faults for a virtual schedule handed off to the real stack; what has no
        real form is appended to ``missing``."""
        return []

    # -- a running stack -------------------------------------------------------------------------

    async def run(self, started: float) -> None:
        """Break the stack at the fault's start, restore it at its end (``started`` is the
        workload's start, ``time.monotonic()``)."""
        fault, record = self.fault, self.record
        self.active = True
        record.started_at_s = time.monotonic() - started
        await asyncio.to_thread(self.apply)
        record.applied_at_s = time.monotonic() - started
        await sleep_until(started + fault.at_s + fault.duration_s)
        await asyncio.to_thread(self.revert)
        self.active = False
        record.reverted_at_s = time.monotonic() - started

    def apply(self) -> None:
        """Break something (blocking); judge the effect here if it shows at once."""

    def revert(self) -> None:
        """Undo :meth:`apply` (blocking); judge the effect here if it shows over the window."""

    def settle(self, samples: list[dict[str, Any]]) -> None:
        """Judge the effect once the run is over, from the sampler's readings (default: done)."""

    def close(self) -> list[str]:
        """Release what the instance still holds after a failed revert; what was released."""
        return []

    @classmethod
    def restore(cls, target: Target) -> list[str]:
        """Put back everything a fault of this kind could have left broken, whatever the
        instances did (the rollback's last resort); what had to be restored."""
        return []
