"""The fault kinds, in one list: the scenario format's ``Fault`` union and each kind's nemesis.

Adding a kind: write its module (a :class:`~chaos.nemesis.base.FaultBase` struct and a
:class:`~chaos.nemesis.base.Nemesis`), add it to ``Fault`` and ``KINDS`` here, and show it in a
scenario file. Nothing else dispatches on a fault's type: every other module asks
:func:`nemesis_of` or loops over :data:`KINDS`.
"""

from __future__ import annotations

from typing import Any

from chaos.nemesis.base import Conditions, FaultBase, Nemesis
from chaos.nemesis.clock import ClockSkewFault, ClockSkewNemesis
from chaos.nemesis.crash import CrashFault, CrashNemesis
from chaos.nemesis.knobs import KnobsFault, KnobsNemesis
from chaos.nemesis.ledger import LedgerFault, LedgerNemesis
from chaos.nemesis.link_down import LinkDownFault, LinkDownNemesis
from chaos.nemesis.process import ProcessFault, ProcessNemesis
from chaos.nemesis.toxic import ToxicFault, ToxicNemesis
from chaos.nemesis.upgrade import UpgradeFault, UpgradeNemesis
from chaos.nemesis.workflow import WorkflowFault, WorkflowNemesis

Fault = (
    ToxicFault | LinkDownFault | ProcessFault | KnobsFault | UpgradeFault | WorkflowFault
    | LedgerFault | CrashFault | ClockSkewFault
)  # fmt: skip
#: Every kind, in the order the real-stack explorer draws them and the rollback restores them.
KINDS: tuple[type[Nemesis[Any]], ...] = (
    ToxicNemesis,
    LinkDownNemesis,
    ProcessNemesis,
    WorkflowNemesis,
    LedgerNemesis,
    KnobsNemesis,
    UpgradeNemesis,
    CrashNemesis,
    ClockSkewNemesis,
)
_BY_TYPE: dict[type[FaultBase], type[Nemesis[Any]]] = {k.fault_type: k for k in KINDS}
_BY_KIND: dict[str, type[Nemesis[Any]]] = {k.kind(): k for k in KINDS}


def nemesis_of(fault: FaultBase) -> type[Nemesis[Any]]:
    """The nemesis of a fault's kind."""
    return _BY_TYPE[type(fault)]


def nemesis_named(kind: str) -> type[Nemesis[Any]]:
    """The nemesis of a ``kind`` tag (as scenario files spell it)."""
    return _BY_KIND[kind]


def describe(fault: FaultBase) -> str:
    """A short human description of a fault."""
    return nemesis_of(fault).describe(fault)


def conditions(faults: list[Fault]) -> Conditions:
    """What the faults do to the SimPy model."""
    found = Conditions()
    for fault in faults:
        nemesis_of(fault).shape(fault, found)
    return found
