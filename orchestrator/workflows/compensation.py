"""A compensation stack for the saga, after temporalio/temporal-compensating-transactions.

A compensation is pushed *before* its step runs, because a step can take effect and still fail
to report back (a timeout after the ledger committed). Compensations run in reverse order, each
at most once: an entry is popped before it runs and never pushed again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

from orchestrator.models import Compensation

T = TypeVar("T")

#: Runs one compensation; returns what it did for the timeline, or None if there was nothing to do.
Action = Callable[[], Awaitable[str | None]]


@dataclass
class Compensations:
    """Compensations registered so far, newest last."""

    _stack: list[tuple[Compensation, Action]] = field(default_factory=list)

    def push(self, kind: Compensation, action: Action) -> None:
        """Register the compensation of the step about to run."""
        self._stack.append((kind, action))

    def discard(self, kind: Compensation) -> None:
        """Forget a compensation whose step is known to have had no effect."""
        self._stack = [(k, a) for k, a in self._stack if k != kind]

    def clear(self) -> None:
        """Forget everything: the saga committed."""
        self._stack.clear()

    async def unwind(
        self, on_result: Callable[[Compensation, str | None, str | None], None]
    ) -> None:
        """Run every compensation newest first; a failing one does not stop the others.

        ``on_result(kind, effect, error)`` is told what each one did.
        """
        while self._stack:
            kind, action = self._stack.pop()
            try:
                effect = await action()
            except Exception as exc:  # recorded, then the next compensation still runs
                on_result(kind, None, str(exc))
            else:
                on_result(kind, effect, None)


async def shielded(
    work: Coroutine[Any, Any, T] | Awaitable[T], on_cancel: Callable[[], object] | None = None
) -> T:
    """Await ``work`` to the end even if the awaiting task is cancelled meanwhile.

    Compensations must finish even when the workflow itself is being cancelled, and a step that
    moves money must settle before its compensation may run. The cancel is swallowed here:
    ``on_cancel`` is told of it so the caller can act on it once ``work`` is done. A cancel that
    lands in the same activation as ``work``'s end (the step already done, the shield's future
    not yet) gives ``work``'s own result or error, never the cancel: raising the cancel there
    would lose a result that moved money.
    """
    task = asyncio.ensure_future(work)
    while True:
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.done() and task.cancelled():
                raise
            if on_cancel is not None:
                on_cancel()
            if task.done():
                return task.result()
