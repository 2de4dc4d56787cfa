"""The webhook replay guard: one claim per delivery in the window, bounded, released on failure."""

from __future__ import annotations

from orchestrator.api.replays import ReplayGuard
from tests.unit.clock import Clock


def test_a_delivery_is_claimed_once_in_the_window_then_forgotten() -> None:
    clock = Clock()
    guard = ReplayGuard(600, clock=clock)
    assert guard.claim(("evt_1", 100))
    assert not guard.claim(("evt_1", 100))
    clock.now = 599.9
    assert not guard.claim(("evt_1", 100))
    clock.now = 600.0
    assert guard.claim(("evt_1", 100))


def test_a_redelivery_signed_anew_is_not_a_replay() -> None:
    guard = ReplayGuard(600)
    assert guard.claim(("evt_1", 100))
    assert guard.claim(("evt_1", 101))  # the saga de-duplicates it by event id
    assert guard.claim(("evt_2", 100))


def test_a_released_delivery_can_be_retried() -> None:
    guard = ReplayGuard(600)
    assert guard.claim(("evt_1", 100))
    guard.release(("evt_1", 100))
    assert guard.claim(("evt_1", 100))


def test_the_store_is_bounded_by_dropping_the_oldest() -> None:
    guard = ReplayGuard(600, max_entries=3)
    for n in range(5):
        assert guard.claim((f"evt_{n}", 1))
    assert len(guard) == 3
    assert guard.claim(("evt_0", 1))  # the oldest went first
    assert not guard.claim(("evt_4", 1))


def test_a_window_of_zero_remembers_nothing() -> None:
    guard = ReplayGuard(0)
    assert guard.claim(("evt_1", 1))
    assert guard.claim(("evt_1", 1))
    assert len(guard) == 0
