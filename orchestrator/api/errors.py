"""Domain errors of the API and the HTTP answer of each; mapped to problem details in ``app``.

Exception tree::

    ApiError
    ├── Unauthenticated        401  no or unknown API key
    ├── MissingIdempotencyKey  400  POST /payments without the header
    ├── Forbidden              403  a payment for another user
    ├── PaymentNotFound        404  unknown payment, or another user's
    ├── PaymentAlreadyFinal    409  cancel of a terminal payment
    ├── IdempotencyConflict    422  same Idempotency-Key, different body
    ├── BadSignature           400/401  webhook signature malformed / wrong
    └── TemporalUnavailable    503  Temporal unreachable; retry later
"""

from __future__ import annotations

from orchestrator.errors import SagaError


class ApiError(SagaError):
    """Root of the API's domain errors."""

    status = 500
    title = "Internal error"
    headers: dict[str, str] = {}
    field_error: dict[str, str] | None = None


class Unauthenticated(ApiError):
    status = 401
    title = "Unauthenticated"
    headers = {"WWW-Authenticate": "Bearer"}


class MissingIdempotencyKey(ApiError):
    status = 400
    title = "Missing Idempotency-Key"
    field_error = {"key": "Idempotency-Key", "source": "header", "message": "required"}


class Forbidden(ApiError):
    status = 403
    title = "Forbidden"


class PaymentNotFound(ApiError):
    status = 404
    title = "Payment not found"


class PaymentAlreadyFinal(ApiError):
    status = 409
    title = "Payment already final"


class IdempotencyConflict(ApiError):
    status = 422
    title = "Idempotency-Key reused with a different request"


class BadSignature(ApiError):
    title = "Bad webhook signature"

    def __init__(self, message: str, *, malformed: bool) -> None:
        super().__init__(message)
        self.status = 400 if malformed else 401
        if not malformed:  # how to authenticate, as a 401 must say (RFC 9110, 15.5.2)
            self.headers = {"WWW-Authenticate": 'Saga-Signature realm="webhooks"'}


class TemporalUnavailable(ApiError):
    status = 503
    title = "Payment engine unavailable"
    headers = {"Retry-After": "5"}


class MalformedBody(ApiError):
    """The body cannot be read as one JSON document (encoding, syntax, duplicate keys, depth)."""

    status = 400
    title = "Malformed body"


class UnsupportedMediaType(ApiError):
    status = 415
    title = "Unsupported media type"
    headers = {"Accept": "application/json"}


class InvalidField(ApiError):
    """A field of a well-formed body is wrong: the problem names it."""

    status = 422
    title = "Invalid request"

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field_error = {"key": field, "source": "body", "message": message}
