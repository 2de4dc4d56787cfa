"""The API's prometheus-client metrics, served on its ``/metrics`` with Litestar's HTTP request
metrics (``saga_api_*``). Labels are bounded: never a payment id."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

PAYMENTS_STARTED = Counter(
    "saga_payments_started", "Payment sagas started through the API", ["method"]
)
PAYMENT_REQUESTS_REPLAYED = Counter(
    "saga_payment_requests_replayed",
    "POST /payments answered from an earlier request with the same Idempotency-Key",
)
CALLBACKS_RECEIVED = Counter(
    "saga_callbacks_received",
    "Provider webhooks by what the API did with them",
    ["result"],  # delivered | ignored | replayed | rejected_signature | rejected_payload
)
CANCEL_REQUESTS = Counter(
    "saga_cancel_requests", "Cancel requests by result", ["result"]
)  # accepted | already_final
PAYMENTS_IN_FLIGHT = Gauge(
    "saga_payments_in_flight", "Payment workflows running now (Temporal visibility count)"
)
RATE_LIMITED = Counter(
    "saga_api_rate_limited", "Requests answered 429 because their API key ran out of tokens"
)
HEADERS_TOO_LARGE = Counter(
    "saga_api_headers_too_large", "Requests answered 431: headers over the size limit"
)
