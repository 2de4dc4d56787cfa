"""Strict request bodies: what Litestar's lenient decoding lets through is refused here first.

``POST /payments`` runs :func:`guard_payment_body` before its handler, in this order, so an
anonymous caller learns nothing about the body's fields:

1. the API key (401 without a valid one), checked by the route's guard (``auth.authenticated``);
2. an ``Idempotency-Key`` of 1 to 200 characters (400 otherwise);
3. ``Content-Type: application/json`` (415 otherwise);
4. one JSON document in UTF-8: invalid UTF-8, invalid JSON, ``NaN``/``Infinity``, duplicate
   keys and nesting deeper than :data:`MAX_DEPTH` are 400 ``Malformed body``;
5. the fields, decoded strictly (an amount must be a JSON integer: ``"100"``, ``100.0`` and
   ``1e2`` are refused) and bounded: 1 to the stack's maximum amount, never above 2**53 - 1 (the
   largest integer a JavaScript client can hold), the currency one the stack takes; 422 naming
   the field.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

import msgspec
from litestar import Request

from orchestrator.api.errors import (
    InvalidField,
    MalformedBody,
    MissingIdempotencyKey,
    UnsupportedMediaType,
)
from orchestrator.api.schemas import PaymentCreate
from orchestrator.config import StackConfig

MAX_DEPTH = 32
IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
MAX_IDEMPOTENCY_KEY = 200
T = TypeVar("T")


class _Duplicate(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise _Duplicate(key)
        seen[key] = value
    return seen


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


def parse_json(body: bytes) -> Any:
    """One strict JSON document, or :class:`MalformedBody` saying what is wrong."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedBody(f"the body is not UTF-8 (byte {exc.start})") from None
    if not text.strip():
        raise MalformedBody("the body is empty: expected a JSON object")
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_reject_constant)
    except _Duplicate as exc:
        raise MalformedBody(f"duplicate key {exc} in the JSON body") from None
    except RecursionError:
        raise MalformedBody(f"the JSON body nests deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:
        raise MalformedBody(f"the body is not valid JSON: {exc}") from None
    if _depth(value) > MAX_DEPTH:
        raise MalformedBody(f"the JSON body nests deeper than {MAX_DEPTH} levels")
    return value


def decode_strict(body: bytes, type_: type[T]) -> T:
    """A ``type_`` from a raw body, strictly: :class:`MalformedBody` (400) for what is not one
    strict JSON document, :class:`InvalidField` (422, naming the field) for a wrong field."""
    value = parse_json(body)
    try:
        return msgspec.convert(value, type_, strict=True)
    except msgspec.ValidationError as exc:
        message, _, path = str(exc).partition(" - at `$")
        field = path.rstrip("`").lstrip(".") or "body"
        raise InvalidField(message.replace("`", ""), field) from None


def decode_payment(body: bytes, max_amount: int) -> PaymentCreate:
    """A :class:`PaymentCreate` from a raw body, strictly, with its amount bounded."""
    payment = decode_strict(body, PaymentCreate)
    if payment.amount > max_amount:
        raise InvalidField(f"above the maximum amount {max_amount}", "amount")
    return payment


async def guard_payment_body(request: Request[Any, Any, Any]) -> None:
    """Litestar ``before_request`` of ``POST /payments``, after the key's guard
    (``auth.authenticated``): Idempotency-Key, media type, body (see above)."""
    idempotency_key = request.headers.get(IDEMPOTENCY_KEY_HEADER, "")
    if not 1 <= len(idempotency_key) <= MAX_IDEMPOTENCY_KEY:
        raise MissingIdempotencyKey(
            f"the {IDEMPOTENCY_KEY_HEADER} header is required:"
            f" 1 to {MAX_IDEMPOTENCY_KEY} characters"
        )
    media = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if media != "application/json":
        raise UnsupportedMediaType(f"Content-Type must be application/json, got {media or 'none'}")
    config: StackConfig = request.app.state.config
    payment = decode_payment(await request.body(), config.saga.max_amount)
    if payment.currency not in config.currencies:
        raise InvalidField(f"not one of the currencies taken: {config.currencies}", "currency")
