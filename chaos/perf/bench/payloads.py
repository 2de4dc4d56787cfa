"""Micro-benchmark: the SDK's ``json/plain`` converter against the saga's msgspec one.

``python -m chaos.perf.bench.payloads`` (``make bench-payloads``) encodes and decodes the payloads
of one happy payment (the workflow's input and result, each activity's, the child's, the signal)
with both converters in the same process, interleaved, and prints CPU microseconds per payment and
their ratio.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from typing import Any

from temporalio.converter import EncodingPayloadConverter, JSONPlainPayloadConverter

from orchestrator import models
from orchestrator.payload_json import MsgspecJSONPayloadConverter


def happy_payment_payloads() -> list[tuple[Any, type]]:
    """What one succeeded payment sends through the data converter, with its type."""
    checks = models.PaymentChecks("USD", "card", 1_000_000)
    fraud = models.FraudVerdict(True, 0.12, [])
    timeline = [
        models.TimelineEntry(f"2026-11-27T00:00:0{i}.000000+00:00", event, "detail")
        for i, event in enumerate(("started", "debited", "charge accepted", "fraud passed",
                                   "confirmed", "notified"))
    ]  # fmt: skip
    status = models.PaymentStatus(
        "pay_0123456789abcdef01234567", "alice", 1234, "USD", "card", "succeeded", "done", 1,
        "ch_0123456789", fraud, notification="email", timeline=timeline,
    )  # fmt: skip
    values: list[Any] = [
        models.PaymentRequest("pay_0123456789abcdef01234567", "alice", 1234, "USD", "card"),
        models.LedgerRequest("pay_0123456789abcdef01234567", "alice", 1234, 60.0, 100, checks),
        models.LedgerResult(1234, 98766),
        models.FraudCheckRequest("pay_0123456789abcdef01234567", "alice", 1234, "card"),
        fraud,
        models.ChargeRequest("pay_0123456789abcdef01234567", "alice", 1234, "USD", "card"),
        models.ChargeResult("ch_0123456789", 1),
        models.ProviderConfirmation("evt_1", "ch_0123456789", "succeeded"),
        models.NotificationRequest("ntf_1", "pay_0123456789abcdef01234567", "alice", "email",
                                   "succeeded"),
        models.NotificationResult("ntf_1", "email"),
        models.PaymentOutcome("pay_0123456789abcdef01234567", "succeeded", status=status),
    ]  # fmt: skip
    return [(value, type(value)) for value in values]


def round_trip(converter: EncodingPayloadConverter, values: Sequence[tuple[Any, type]]) -> None:
    """Encode each value and decode it back into its type."""
    for value, cls in values:
        payload = converter.to_payload(value)
        assert payload is not None
        converter.from_payload(payload, cls)


def cpu_us(run: Callable[[], None], repeat: int) -> float:
    """CPU microseconds of one ``run()``, over ``repeat`` runs."""
    started = time.process_time()
    for _ in range(repeat):
        run()
    return (time.process_time() - started) / repeat * 1e6


def measure(repeat: int, rounds: int) -> tuple[float, float]:
    """Best-of-``rounds`` CPU microseconds per payment: (SDK converter, saga converter)."""
    values = happy_payment_payloads()
    sdk, saga = JSONPlainPayloadConverter(), MsgspecJSONPayloadConverter()
    best_sdk = best_saga = float("inf")
    for _ in range(rounds):  # interleaved, so both see the same machine
        best_sdk = min(best_sdk, cpu_us(lambda: round_trip(sdk, values), repeat))
        best_saga = min(best_saga, cpu_us(lambda: round_trip(saga, values), repeat))
    return best_sdk, best_saga


def main(argv: Sequence[str] | None = None) -> int:
    """Print both converters' cost per payment and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=500, help="payments per timing (500)")
    parser.add_argument("--rounds", type=int, default=5, help="timings per converter, best kept")
    args = parser.parse_args(argv)
    sdk, saga = measure(args.repeat, args.rounds)
    count = len(happy_payment_payloads())
    print(f"one happy payment: {count} payloads, each encoded once and decoded once")
    print(f"SDK json/plain converter:   {sdk:8.1f} CPU-us per payment")
    print(f"saga msgspec converter:     {saga:8.1f} CPU-us per payment")
    print(f"ratio (SDK / msgspec):      {sdk / saga:8.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
