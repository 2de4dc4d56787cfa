"""Schemathesis hooks for the API contract test (loaded through ``schemathesis.toml``).

The API takes amounts only as JSON integer literals (``100``; ``100.0`` and ``1e2`` are a 422),
which is stricter than JSON Schema: its ``integer`` type counts any number with a zero fraction,
and no keyword can say "an integer literal". Schemathesis therefore generates ``2841.0`` as valid
data. In positive cases only, such an amount is written back as the integer it equals; negative
cases go out as generated.

And one business rule no schema can state: an Idempotency-Key reused with a different body is a
422 (as the IETF Idempotency-Key draft says), so when schemathesis happens to reuse a key, that
one answer is not counted as "schema-valid data rejected". Nothing else is excused.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from schemathesis import Case, GenerationMode, HookContext, Response
from schemathesis.core.failures import Failure

KEY_REUSED = "Idempotency-Key reused with a different request"
POSITIVE_DATA_REJECTED = "ST202"


@schemathesis.hook
def map_case(context: HookContext, case: Case) -> Case:
    """Positive ``POST /payments`` cases send an integral float amount as an integer literal."""
    body: Any = case.body
    if (
        case.meta is not None
        and case.meta.generation.mode is GenerationMode.POSITIVE
        and isinstance(body, dict)
        and isinstance(body.get("amount"), float)
        and body["amount"].is_integer()
    ):
        body["amount"] = int(body["amount"])
    return case


@schemathesis.hook
def filter_failure(context: HookContext, failure: Failure, case: Case, response: Response) -> bool:
    """Keep every failure but a 422 for a reused Idempotency-Key under positive data."""
    reused = response.status_code == 422 and _problem_title(response) == KEY_REUSED
    return not (failure.code == POSITIVE_DATA_REJECTED and reused)


def _problem_title(response: Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("title") if isinstance(body, dict) else None
