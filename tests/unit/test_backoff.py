"""One backoff formula, Temporal's, shared by the virtual world and the SimPy model."""

from __future__ import annotations

from datetime import timedelta

from temporalio.common import RetryPolicy

from orchestrator.models import RetryOptions, backoff_s, policy_backoff_s


def test_the_waits_grow_by_the_coefficient_up_to_the_maximum() -> None:
    options = RetryOptions(initial_interval_s=1, backoff_coefficient=2, maximum_interval_s=5)
    assert [options.backoff_s(a) for a in range(1, 6)] == [1, 2, 4, 5, 5]


def test_unset_fields_take_the_servers_defaults() -> None:
    # Temporal's defaults: initial 1 s, coefficient 2.0, maximum 100 times the initial interval
    # (the SimPy model's copy used to wait without a ceiling; the virtual kernel's did not).
    assert backoff_s(1) == 1.0
    assert backoff_s(3) == 4.0
    assert backoff_s(20) == 100.0
    assert backoff_s(20, initial_s=0.5) == 50.0


def test_an_sdk_policy_reads_the_same() -> None:
    policy = RetryPolicy(initial_interval=timedelta(seconds=2), maximum_interval=None)
    assert policy_backoff_s(policy, 2) == 4.0
    assert policy_backoff_s(policy, 30) == 200.0
    capped = RetryPolicy(
        initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=3)
    )
    assert policy_backoff_s(capped, 5) == 3.0
