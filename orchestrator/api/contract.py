"""The API's OpenAPI contract: the bearer scheme, the problem-details answers each route can give,
and what only the running stack knows (its maximum amount, its currencies, links between routes).

Schemathesis runs against this document in CI (``tests/contract``), so every status a route can
answer must be listed here: a new error path without its status fails that test.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec
from litestar import Litestar
from litestar.openapi import OpenAPIConfig, ResponseSpec
from litestar.openapi.spec import (
    Components,
    Link,
    OpenAPIResponse,
    Operation,
    SecurityRequirement,
    SecurityScheme,
)

from orchestrator.api.schemas import GatewayEvent, PaymentCreate
from orchestrator.config import StackConfig
from orchestrator.problems import PROBLEM_JSON

BEARER: list[SecurityRequirement] = [{"bearer": []}]
"""The ``security`` of every route that takes an API key."""


class FieldError(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One wrong field or header of a request."""

    message: str
    source: Literal["body", "header", "path", "query"] | None = None
    key: str | None = None
    """The field (a dotted path into the body) or the header's name."""


class Problem(msgspec.Struct, kw_only=True, omit_defaults=True):
    """An RFC 9457 problem detail (``application/problem+json``): every error answer."""

    type: str
    """``urn:saga:problem:<title in kebab case>``: tells apart problems of one status."""
    title: str
    status: int
    detail: str
    errors: list[FieldError] | None = None
    """The fields or headers at fault (400 and 422)."""


_MEANING = {
    400: "Malformed request: a body that is not one strict JSON document, a missing or invalid "
    "header (Idempotency-Key, Saga-Signature)",
    401: "No API key, an unknown one, or (webhook) a signature that does not match or is stale",
    403: "The API key may not act for the user named in the body",
    404: "No such payment for this API key (another user's payments answer the same)",
    409: "The payment is already final",
    413: "The body is larger than 64 KiB",
    415: "The body is not application/json",
    422: "A field is wrong (named in errors), or the Idempotency-Key was used with another body",
    429: "This API key's rate limit is spent; retry after Retry-After seconds",
    431: "The request headers together exceed 16 KiB",
    503: "Temporal is unreachable; retry after Retry-After seconds",
}
LIMITS = (429, 431)
"""Answered before routing to every request with an API key (429) or too many headers (431)."""


def problems(*statuses: int) -> dict[int, ResponseSpec]:
    """The ``responses`` of a route: a problem-details answer for each status."""
    return {
        status: ResponseSpec(
            data_container=Problem,
            description=_MEANING[status],
            media_type=PROBLEM_JSON,
            generate_examples=False,
        )
        for status in statuses
    }


def openapi_config() -> OpenAPIConfig:
    """The document's header and the bearer scheme (API keys from ``credentials.json``)."""
    return OpenAPIConfig(
        title="Payment saga API",
        version="1.0.0",
        path="/schema",
        components=Components(
            security_schemes={
                "bearer": SecurityScheme(
                    type="http",
                    scheme="bearer",
                    description="An API key: `Authorization: Bearer <key>` (docs/api.md)",
                )
            }
        ),
    )


STRICT_BODIES = (PaymentCreate, GatewayEvent)
"""Request bodies that refuse unknown fields (``forbid_unknown_fields``)."""
_PAYMENT_ID = {"payment_id": "$response.body#/payment_id"}
_FOLLOW_UPS = {
    "ReadPayment": "PaymentsPaymentIdReadPayment",
    "ReadPaymentState": "PaymentsPaymentIdStateReadPaymentState",
    "CancelPayment": "PaymentsPaymentIdCancelCancelPayment",
}


def complete(app: Litestar, config: StackConfig) -> None:
    """Write into the generated document what depends on this stack's configuration, and the
    links from a created payment to the routes that take its id (schemathesis's stateful phase
    follows them)."""
    document = app.openapi_schema
    schemas = document.components.schemas or {}
    for strict in STRICT_BODIES:
        schemas[strict.__name__].additional_properties = False
    body = schemas["PaymentCreate"].properties or {}
    _set(body["amount"], maximum=config.saga.max_amount)
    _set(body["currency"], enum=list(config.currencies), pattern=None)
    for path in (document.paths or {}).values():
        for operation in (path.get, path.post):
            # Litestar documents a 400 for any route with parameters; on these routes none can
            # fail, and every 400 the API does answer is listed with its problem schema.
            if operation and operation.responses and "400" not in _declared(operation):
                operation.responses.pop("400", None)
    created = (document.paths or {})["/payments"].post
    assert created is not None and created.responses is not None
    accepted = created.responses["202"]
    assert isinstance(accepted, OpenAPIResponse)
    accepted.links = {
        name: Link(operation_id=operation_id, parameters=_PAYMENT_ID)
        for name, operation_id in _FOLLOW_UPS.items()
    }


def _declared(operation: Operation) -> set[str]:
    responses = operation.responses or {}
    return {
        status
        for status, response in responses.items()
        if isinstance(response, OpenAPIResponse)
        and response.content is not None
        and PROBLEM_JSON in response.content
    }


def _set(schema: Any, **values: Any) -> None:
    for name, value in values.items():
        setattr(schema, name, value)
