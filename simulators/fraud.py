"""The fraud scoring service: ``python -m simulators.fraud --port P``.

``POST /score`` answers ``pass`` or ``fail`` with a score after a configurable delay. Rules, in
order: blocked users fail, amounts at or over the threshold fail, then a random fail rate.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Annotated, Any

import msgspec
from litestar import Litestar, Response, post

from orchestrator.problems import problem_response
from simulators.common import (
    KnobBox,
    Knobs,
    NonNegative,
    Rate,
    admin_handlers,
    run_simulator,
)
from simulators.metrics import SIM_FRAUD_SCORES


class FraudKnobs(Knobs):
    """Scoring rules and misbehaviour."""

    delay_ms: Annotated[int, NonNegative] = 50
    """Time to score one payment."""
    delay_jitter_ms: Annotated[int, NonNegative] = 0
    """Uniform jitter on top of ``delay_ms``."""
    amount_threshold: Annotated[int, msgspec.Meta(gt=0)] | None = None
    """Payments of at least this amount are rejected."""
    blocked_users: list[str] = msgspec.field(default_factory=list)
    """Users whose payments are rejected."""
    fail_rate: Annotated[float, Rate] = 0.0
    """Share of payments rejected at random."""
    error_rate: Annotated[float, Rate] = 0.0
    """Share of scoring requests answered with a 503 (retried by the fraud workflow)."""


class ScoreBody(msgspec.Struct, forbid_unknown_fields=True):
    """A scoring request."""

    payment_id: str
    user_id: str
    amount: int
    payment_method: str


def create_app(box: KnobBox[FraudKnobs]) -> Litestar:
    """The fraud scoring app."""

    @post("/score", status_code=200)
    async def score(data: ScoreBody) -> Response[Any]:
        knobs = box.knobs
        await asyncio.sleep(box.jittered_s(knobs.delay_ms, knobs.delay_jitter_ms))
        if box.chance(knobs.error_rate):
            SIM_FRAUD_SCORES.labels("error").inc()
            return problem_response(503, "Scoring unavailable", "injected error")
        reasons = []
        if data.user_id in knobs.blocked_users:
            reasons.append("blocked_user")
        if knobs.amount_threshold is not None and data.amount >= knobs.amount_threshold:
            reasons.append("amount_over_threshold")
        if not reasons and box.chance(knobs.fail_rate):
            reasons.append("random_fail")
        score_value = 0.95 if reasons else round(box.rng.uniform(0.0, 0.3), 3)
        verdict = "fail" if reasons else "pass"
        SIM_FRAUD_SCORES.labels(verdict).inc()
        return Response({"verdict": verdict, "score": score_value, "reasons": reasons})

    return Litestar([score, *admin_handlers(box)])


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the fraud process."""
    run_simulator("python -m simulators.fraud", FraudKnobs, create_app, argv)


if __name__ == "__main__":
    main()
