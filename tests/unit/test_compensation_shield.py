"""``shielded``: a step that moves money runs to its end whatever cancels its awaiter, and a
result that arrives together with the cancel is never lost (issue 34, item 1).

A Temporal activation can carry an activity's result and a cancel request at once. The SDK
resolves the activity first and then cancels the workflow's task: the shield's own future is
still pending when the cancel lands, while the shielded step is already done.
"""

from __future__ import annotations

import asyncio

import pytest

from orchestrator.workflows.compensation import shielded


async def _cancelled_as_it_completes(
    inner: asyncio.Future[str],
) -> tuple[asyncio.Future[str], list[int]]:
    cancels: list[int] = []
    outer = asyncio.ensure_future(shielded(inner, on_cancel=lambda: cancels.append(1)))
    await asyncio.sleep(0)  # the awaiter now waits on the shield
    return outer, cancels


async def test_a_result_that_meets_a_cancel_is_returned_and_the_cancel_reported() -> None:
    inner: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    outer, cancels = await _cancelled_as_it_completes(inner)
    inner.set_result("debited")
    outer.cancel()
    assert await outer == "debited"
    assert cancels == [1]


async def test_an_error_that_meets_a_cancel_is_raised_as_itself() -> None:
    inner: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    outer, cancels = await _cancelled_as_it_completes(inner)
    inner.set_exception(ValueError("refused"))
    outer.cancel()
    with pytest.raises(ValueError, match="refused"):
        await outer
    assert cancels == [1]


async def test_a_cancel_while_the_step_runs_waits_for_its_end() -> None:
    inner: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    outer, cancels = await _cancelled_as_it_completes(inner)
    outer.cancel()
    await asyncio.sleep(0)
    assert not outer.done() and cancels == [1]
    inner.set_result("debited")
    assert await outer == "debited"
