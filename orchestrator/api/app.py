"""The Litestar app: thin controllers over :class:`PaymentService`, problems mapped in one place.

Run as ``python -m orchestrator.api.app --config FILE``; OpenAPI is served at ``/schema``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from http import HTTPStatus
from pathlib import Path
from typing import Annotated, Any

import msgspec
import uvicorn
from litestar import Litestar, Request, Response, get, post
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import HTTPException, ValidationException
from litestar.params import Parameter
from litestar.plugins.prometheus import PrometheusConfig, PrometheusController

from orchestrator import signing
from orchestrator.api.auth import ApiKeys, authenticated, current_user
from orchestrator.api.contract import BEARER, LIMITS, complete, openapi_config, problems
from orchestrator.api.currencies import AccountCurrencies
from orchestrator.api.errors import ApiError, Forbidden, InvalidField
from orchestrator.api.limits import BODY_LIMIT_BYTES, Limits, TokenBucket
from orchestrator.api.replays import ReplayGuard
from orchestrator.api.request_log import FILE_NAME as REQUEST_LOG_FILE
from orchestrator.api.request_log import RequestLog
from orchestrator.api.schemas import (
    CancelAccepted,
    GatewayEvent,
    PaymentAccepted,
    PaymentCreate,
    PaymentStateView,
    PaymentView,
    WebhookAck,
)
from orchestrator.api.service import MAX_WAIT_S, PaymentService
from orchestrator.api.strict_body import (
    IDEMPOTENCY_KEY_HEADER,
    MAX_IDEMPOTENCY_KEY,
    guard_payment_body,
)
from orchestrator.api.webhook import deliver, guard_webhook
from orchestrator.config import NEEDS, StackConfig, load_config
from orchestrator.problems import problem_response
from orchestrator.temporal_client import connect

log = logging.getLogger("orchestrator.api")


def provide_service(state: State) -> PaymentService:
    """The ``service`` dependency: the payment service the app's lifespan built."""
    service: PaymentService = state.service
    return service


#: The payment routes: the API key first (a guard; documented as the bearer security scheme in
#: contract.py), the authenticated user and the service as dependencies.
GUARDED = [authenticated]


@post(
    "/payments",
    status_code=202,
    summary="Start a payment",
    guards=GUARDED,  # the key first
    before_request=guard_payment_body,  # then a strict body (strict_body.py)
    security=BEARER,
    responses=problems(400, 401, 403, 413, 415, 422, *LIMITS, 503),
)
async def create_payment(
    state: State,
    service: PaymentService,
    user: str,
    data: PaymentCreate,
    idempotency_key: Annotated[
        str,
        Parameter(
            header=IDEMPOTENCY_KEY_HEADER,
            min_length=1,
            max_length=MAX_IDEMPOTENCY_KEY,
            description="The same key and body return the same payment; another body is a 422",
        ),
    ],
) -> PaymentAccepted:
    """Start a payment saga; the same key and body return the same payment."""
    if data.user_id not in (None, user):
        raise Forbidden(f"this API key may only create payments for {user!r}")
    _check_currency(state, user, data.currency)
    payment_id, created = await service.create(
        user, msgspec.structs.replace(data, user_id=user), idempotency_key
    )
    return PaymentAccepted(
        payment_id=payment_id, status_url=f"/payments/{payment_id}", created=created
    )


def _check_currency(state: State, user: str, currency: str) -> None:
    """422 for a currency the payer's account cannot pay in, before any saga starts. An account
    the API cannot read (none yet, the ledger busy) is left to the saga's validation."""
    currencies: AccountCurrencies = state.currencies
    held = currencies.of(user)
    if held is not None and held != currency:
        raise InvalidField(f"the account of {user!r} pays in {held}", "currency")


_READ = problems(401, 404, *LIMITS, 503)


@get(
    "/payments/{payment_id:str}",
    summary="Read a payment's status",
    security=BEARER,
    guards=GUARDED,
    responses=problems(400, 401, 404, *LIMITS, 503),
)
async def read_payment(
    service: PaymentService,
    user: str,
    payment_id: str,
    wait: Annotated[
        float,
        Parameter(
            query="wait",
            ge=0,
            le=MAX_WAIT_S,
            description="Seconds to hold the request while the payment runs: it is answered"
            " as soon as the payment ends, or when the time is up with the running view"
            f" (at most {MAX_WAIT_S:g}; 0, the default, answers at once)",
        ),
    ] = 0.0,
) -> PaymentView:
    """The payment's view: from its result once it ended, else the workflow's ``status``
    query; with ``wait``, a running payment is waited for first (a long poll)."""
    return await service.status(user, payment_id, wait)


@get(
    "/payments/{payment_id:str}/state",
    summary="Read only a payment's state (cheap, for polling)",
    security=BEARER,
    guards=GUARDED,
    responses=_READ,
)
async def read_payment_state(
    service: PaymentService, user: str, payment_id: str
) -> PaymentStateView:
    """State and whether the saga ended, from the Temporal server alone (no workflow query)."""
    return await service.state(user, payment_id)


@post(
    "/payments/{payment_id:str}/cancel",
    status_code=202,
    summary="Cancel a payment",
    security=BEARER,
    guards=GUARDED,
    responses=problems(401, 404, 409, *LIMITS, 503),
)
async def cancel_payment(service: PaymentService, user: str, payment_id: str) -> CancelAccepted:
    """Ask the saga to stop and compensate."""
    await service.cancel(user, payment_id)
    return CancelAccepted(payment_id=payment_id, cancel_requested=True)


@post(
    "/webhooks/gateway",
    status_code=200,
    summary="Provider callback (signed)",
    before_request=guard_webhook,  # signature, then a strict body (webhook.py)
    # 429 too: the limiter throttles every request that presents a bearer key, a webhook too.
    responses=problems(400, 401, 413, 422, *LIMITS, 503),
)
async def gateway_webhook(
    request: Request[Any, Any, Any],
    state: State,
    service: PaymentService,
    data: GatewayEvent,
    saga_signature: Annotated[
        str,
        Parameter(
            header=signing.SIGNATURE_HEADER,
            pattern=signing.SIGNATURE_FORMAT.pattern,
            description='`t=<unix seconds>,v1=<hex HMAC-SHA256 of "{t}." + body>`, under 300 s'
            " old; several v1 values during a secret rotation",
        ),
    ],
) -> WebhookAck:
    """Verify the signature over the raw body, drop a replay, then signal the saga."""
    replays: ReplayGuard = state.replays
    return await deliver(service, replays, data, request.state.signed_at)


@get("/health", summary="Liveness", responses=problems(431))
async def health() -> dict[str, str]:
    """The API process is up."""
    return {"status": "ok"}


def _api_error(_: Request[Any, Any, Any], exc: ApiError) -> Response[Any]:
    extra = {"errors": [exc.field_error]} if exc.field_error else {}
    return problem_response(exc.status, exc.title, str(exc), headers=exc.headers or None, **extra)


def _validation_error(_: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    errors = exc.extra if isinstance(exc.extra, list) else []
    # A bad header or query parameter is a bad request; a bad body field, unprocessable.
    in_request = any(isinstance(e, dict) and e.get("source") in ("header", "query") for e in errors)
    status = 400 if in_request else 422
    return problem_response(status, "Invalid request", str(exc.detail), errors=errors)


def _http_error(_: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    # Keeps the exception's headers: a 405 carries Allow. The title is the status's own phrase
    # ("Not Found"), never the framework's class name (NotFoundException).
    title = HTTPStatus(exc.status_code).phrase
    return problem_response(exc.status_code, title, str(exc.detail), headers=exc.headers or None)


def _unexpected(_: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.exception("unhandled error", exc_info=exc)
    return problem_response(500, "Internal error", "unexpected error; see the API log")


class ApiMetrics(PrometheusController):
    """``GET /metrics``: HTTP request metrics (``saga_api_*``) and the API's own (``.metrics``)."""

    include_in_schema = False


def create_app(config: StackConfig, api_keys: ApiKeys | None = None) -> Litestar:
    """Build the API for one stack; the Temporal client lives for the app's lifespan."""

    @asynccontextmanager
    async def temporal(app: Litestar) -> AsyncIterator[None]:
        client = await connect(config)
        requests = RequestLog(Path(config.state_dir) / REQUEST_LOG_FILE)
        app.state.service = service = PaymentService(
            client, config.saga, config.payment_id_secret, requests
        )
        tracker = asyncio.create_task(service.track_in_flight())
        try:
            yield
        finally:
            tracker.cancel()

    prometheus = PrometheusConfig(app_name="saga-api", prefix="saga_api", group_path=True)
    app = Litestar(
        [
            create_payment,
            read_payment,
            read_payment_state,
            cancel_payment,
            gateway_webhook,
            health,
            ApiMetrics,
        ],
        lifespan=[temporal],
        dependencies={
            "service": Provide(provide_service, sync_to_thread=False),
            "user": Provide(current_user, sync_to_thread=False),
        },
        # The limits run around the app, before routing (serve_app, Limits).
        middleware=[prometheus.middleware],
        request_max_body_size=BODY_LIMIT_BYTES,
        state=State(
            {
                "config": config,
                "api_keys": api_keys or ApiKeys.load(config.api_keys_path),
                "replays": ReplayGuard(config.webhook_replay_window_s),
                "currencies": AccountCurrencies(config.ledger_path),
            }
        ),
        exception_handlers={
            ApiError: _api_error,
            ValidationException: _validation_error,
            HTTPException: _http_error,
            Exception: _unexpected,
        },
        openapi_config=openapi_config(),
    )
    complete(app, config)
    return app


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the API process."""
    parser = argparse.ArgumentParser(prog="python -m orchestrator.api.app")
    parser.add_argument("--config", required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    config = load_config(args.config, needs=NEEDS["api"])
    uvicorn.run(
        serve_app(config),
        host=config.api_host,
        port=config.api_port,
        log_level="warning",
        # An idle keep-alive connection is closed after 5 s; a request's headers are bounded
        # (16 KiB, beside the 431 of the limits layer); no Server header names the software.
        # A slow client (slowloris) holds a socket, not a worker: the event loop serves the
        # others (tests/integration/test_hostile_input.py measures it); a header deadline
        # belongs to the TLS-terminating proxy in front (docs/deployment.md).
        timeout_keep_alive=5,
        h11_max_incomplete_event_size=16 * 1024,
        server_header=False,
    )


def serve_app(config: StackConfig) -> Limits:
    """What the API process serves: the app inside its limits, which run before routing (so an
    unknown path or a wrong method meets them too) and before the metrics label a request."""
    return Limits(
        create_app(config),
        TokenBucket(config.rate_limit_per_s, config.rate_limit_burst),
        TokenBucket(config.anonymous_rate_limit_per_s, config.anonymous_rate_limit_burst),
    )


if __name__ == "__main__":
    main()
