r"""What a checker finds: a :class:`Check` over a bundle, with its :class:`Counterexample`\ s.

Kept apart from the checkers so that every judge (:mod:`chaos.verdicts.checkers`, the reference
model in :mod:`chaos.verdicts.oracle`) returns the same shape without importing the others.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Counterexample:
    """Where a checker found the system wrong: the payment (or account), expected, found."""

    subject: str
    expected: str
    found: str

    def __str__(self) -> str:
        return f"{self.subject}: expected {self.expected}, found {self.found}"


@dataclass(frozen=True)
class Check:
    """One checker's result over a bundle."""

    name: str
    valid: bool
    checked: int
    """How many subjects (accounts, payments, executions) it looked at."""
    counterexamples: list[Counterexample] = field(default_factory=list)

    def summary(self) -> str:
        """One line: what was checked, and the first counterexamples if any."""
        if self.valid:
            return f"{self.checked} checked"
        shown = "; ".join(str(c) for c in self.counterexamples[:2])
        more = len(self.counterexamples) - 2
        return f"{len(self.counterexamples)} wrong of {self.checked}: {shown}" + (
            f" (+{more} more)" if more > 0 else ""
        )
