"""The mock external payment provider: ``python -m simulators.provider --port P --callback-url U``.

``POST /charges`` (``Idempotency-Key`` required) accepts a charge and later POSTs a signed
callback to the API; ``POST /charges/{key}/void`` voids an authorization;
``POST /charges/{key}/refund`` gives back a capture; ``GET /charges`` lists every charge (the
harness sums what the provider captured from it).

Two void semantics (the ``strict`` knob):

- lenient (default): a void that arrives before its charge leaves a tombstone and the late
  charge is refused with 409, and an authorization can be voided at any time;
- strict, as real processors behave: no tombstones (a charge arriving after a void that found
  nothing is authorized as usual), and an authorization is captured ``capture_after_ms`` after it
  was made, after which a void is refused with 409 ``{"error": "captured"}``.

Transport faults (5xx, hangs, dropped connections) are injected by :class:`FaultInjector`, an
ASGI wrapper, before the request reaches the business handlers, the way a broken load balancer or
network would. One fault is the provider's own: *late processing* (``late_first_attempts``,
``late_processing_rate``) leaves the attempt unanswered and makes the charge
``late_processing_ms`` after it arrived, after its client gave up, the way a provider whose
request queue backed up does.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, cast

import httpx
import msgspec
from litestar import Litestar, Response, get, post
from litestar.params import Parameter
from litestar.types import Receive, Scope, Send

from orchestrator import seams, signing
from orchestrator.config import NEEDS, StackConfig, load_config
from orchestrator.problems import problem_response
from simulators.common import (
    KnobBox,
    Knobs,
    NonNegative,
    Rate,
    admin_handlers,
    counting,
    guarded,
    initial_knobs,
    parse_args,
    serve,
)
from simulators.metrics import SIM_PROVIDER_CALLBACKS, SIM_PROVIDER_CHARGES, SIM_PROVIDER_FAULTS
from simulators.provider_rules import Charge, Provider, Refused

log = logging.getLogger("simulators.provider")
REDELIVERY_GAP_S = 1.1
"""Between copies of a duplicated callback: past the next whole second, so its signature differs."""

ErrorKind = Literal["http_500", "http_503", "timeout", "connection_drop"]


class ProviderKnobs(Knobs):
    """How the provider misbehaves."""

    error_rate: Annotated[float, Rate] = 0.0
    """Share of charge attempts that fail with ``error_kind``."""
    error_kind: ErrorKind = "http_503"
    """How a failing attempt fails: a 500 or 503 answer, a hang of ``hang_ms`` (``timeout``), or a
    dropped connection."""
    fail_first_attempts: Annotated[int, NonNegative] = 0
    """Every payment's first N charge attempts fail with ``error_kind`` (then ``error_rate``
    applies)."""
    hang_ms: Annotated[int, NonNegative] = 20_000
    """How long a ``timeout`` attempt hangs before it answers."""
    latency_ms: Annotated[int, NonNegative] = 0
    """Added to every charge and void."""
    latency_jitter_ms: Annotated[int, NonNegative] = 0
    """Uniform jitter on top of ``latency_ms``."""
    decline_rate: Annotated[float, Rate] = 0.0
    """Share of charges declined (a business refusal, not retried)."""
    decline_via_callback: bool = False
    """Declines arrive as a ``declined`` callback after an accepted charge, instead of in the
    charge's answer."""
    callback_delay_ms: Annotated[int, NonNegative] = 100
    """From an accepted charge to its confirmation webhook."""
    callback_delay_jitter_ms: Annotated[int, NonNegative] = 0
    """Uniform jitter on top of ``callback_delay_ms``."""
    answer_delay_ms: Annotated[int, NonNegative] = 0
    """Time between making a charge (its callbacks are scheduled then) and answering the charge
    call: a callback can overtake the answer, as real providers' webhooks do."""
    missing_callback_rate: Annotated[float, Rate] = 0.0
    """Share of charges whose webhook is never sent (the saga's timer must fire)."""
    duplicate_callback_rate: Annotated[float, Rate] = 0.0
    """Share of webhooks delivered twice (same event id)."""
    foreign_callback_rate: Annotated[float, Rate] = 0.0
    """Before a charge's own callback, halfway through its delay, a validly signed callback for
    another charge (``ch_foreign_...``, with ``foreign_callback_status``) names the same
    payment, as a provider that mixes up its events would send."""
    foreign_callback_status: Literal["declined", "succeeded"] = "declined"
    """What a foreign callback says: a decline, or a success that is not this payment's."""
    strict: bool = False
    """Real-processor void semantics: no void-before-charge tombstones, captures not voidable."""
    capture_after_ms: Annotated[int, NonNegative] = 10_000
    """Strict mode: an authorization is captured (no longer voidable) this long after it."""
    late_first_attempts: Annotated[int, NonNegative] = 0
    """Every payment's first N charge attempts are never answered (the connection is held
    ``hang_ms``, then dropped) but processed anyway, ``late_processing_ms`` after they arrived,
    whatever happened to the payment meanwhile (then ``late_processing_rate`` applies; both
    come before ``error_rate``)."""
    late_processing_rate: Annotated[float, Rate] = 0.0
    """Share of charge attempts processed late, as ``late_first_attempts`` describes."""
    late_processing_ms: Annotated[int, NonNegative] = 45_000
    """With ``late_processing_rate``: from the unanswered attempt to its charge."""


class ChargeBody(msgspec.Struct, forbid_unknown_fields=True):
    """A charge request."""

    payment_id: str
    user_id: str
    amount: Annotated[int, msgspec.Meta(gt=0)]
    currency: str
    payment_method: str


@dataclass
class ProviderState:
    """Charges, attempt counts, and the callback tasks in flight."""

    box: KnobBox[ProviderKnobs]
    callback_url: str
    secret: str
    book: Provider = field(default_factory=Provider)
    """The charges and tombstones (:mod:`simulators.provider_rules`: the rules, without I/O)."""
    attempts: dict[str, int] = field(default_factory=dict)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    config: StackConfig | None = None
    """The stack's config: with its harness seams on, callbacks follow the partial links."""
    _http: httpx.AsyncClient | None = None

    async def close(self) -> None:
        """Close the callback client."""
        if self._http is not None:
            await self._http.aclose()

    @property
    def http(self) -> httpx.AsyncClient:
        """One pooled client for every callback.

        A new client per callback was 11% of the whole stack's CPU under load (``saga bench``).
        """
        if self._http is None:
            self._http = (
                seams.http_client(self.config, timeout=5.0)
                if self.config is not None
                else httpx.AsyncClient(timeout=5.0)
            )
        return self._http

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` in the background, cancelled when the simulator stops."""
        task = asyncio.create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def processes_late(self, key: str) -> bool:
        """Whether this attempt of a charge is left unanswered and processed late (it then
        counts as an attempt)."""
        knobs = self.box.knobs
        attempt = self.attempts.get(key, 0) + 1
        if attempt <= knobs.late_first_attempts or self.box.chance(knobs.late_processing_rate):
            self.attempts[key] = attempt
            return True
        return False

    def fault_for(self, key: str) -> ErrorKind | None:
        """Which fault, if any, this attempt of a charge meets."""
        knobs = self.box.knobs
        self.attempts[key] = attempt = self.attempts.get(key, 0) + 1
        if attempt <= knobs.fail_first_attempts or self.box.chance(knobs.error_rate):
            return knobs.error_kind
        return None


class FaultInjector:
    """ASGI wrapper that breaks ``POST /charges`` requests according to the knobs."""

    def __init__(self, app: Litestar, state: ProviderState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw: dict[str, Any] = dict(scope)
        if raw["type"] == "http" and raw["method"] == "POST" and raw["path"] == "/charges":
            headers = dict(raw["headers"])
            # latin-1, as HTTP headers are: a non-UTF-8 key is a key, not a 500 (issue 30).
            key = headers.get(b"idempotency-key", b"").decode("latin-1")
            knobs = self.state.box.knobs
            await asyncio.sleep(
                self.state.box.jittered_s(knobs.latency_ms, knobs.latency_jitter_ms)
            )
            if key and self.state.processes_late(key):
                await self._process_late(key, receive, emit=cast("Emit", send))
                return
            fault = self.state.fault_for(key) if key else None
            if fault:
                SIM_PROVIDER_FAULTS.labels(fault).inc()
            emit = cast("Emit", send)
            if fault in ("http_500", "http_503"):
                status = 500 if fault == "http_500" else 503
                await emit(
                    {
                        "type": "http.response.start",
                        "status": status,
                        "headers": [(b"content-type", b"application/json")],
                    }
                )
                await emit({"type": "http.response.body", "body": b'{"error":"injected"}'})
                return
            if fault == "timeout":
                await asyncio.sleep(knobs.hang_ms / 1000)
            if fault == "connection_drop":
                await _drop_connection(emit)
        await self.app(scope, receive, send)

    async def _process_late(self, key: str, receive: Receive, emit: Emit) -> None:
        """Leave the attempt unanswered (held ``hang_ms``, then dropped) and make its charge
        ``late_processing_ms`` after it arrived."""
        knobs = self.state.box.knobs
        body = b""
        while True:
            message = cast("dict[str, Any]", await receive())
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        try:
            data: ChargeBody | None = msgspec.json.decode(body, type=ChargeBody)
        except msgspec.MsgspecError:
            data = None  # nothing a charge can be made of: the attempt is only left unanswered
        SIM_PROVIDER_FAULTS.labels("late_processing").inc()
        if data is not None:
            self.state.spawn(_charge_later(self.state, data, key, knobs.late_processing_ms))
        await asyncio.sleep(knobs.hang_ms / 1000)
        await _drop_connection(emit)


Emit = Callable[[dict[str, Any]], Awaitable[None]]


async def _drop_connection(emit: Emit) -> None:
    """Promise a body, send part of it, then abort: the client sees the peer vanish."""
    await emit(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-length", b"1000")],
        }
    )
    await emit({"type": "http.response.body", "body": b"{", "more_body": True})
    raise ConnectionAbortedError("injected connection drop")


async def _charge_later(state: ProviderState, data: ChargeBody, key: str, after_ms: int) -> None:
    """The late-processed charge: made as the attempt would have made it, ``after_ms`` later."""
    await asyncio.sleep(after_ms / 1000)
    SIM_PROVIDER_CHARGES.labels("processed_late").inc()
    await make_charge(state, data, key)


async def make_charge(
    state: ProviderState, data: ChargeBody, idempotency_key: str
) -> Response[Any]:
    """A charge attempt as the provider handles it: refused after a void (lenient), the same
    charge again for a known key, else a new charge (declined, or authorized with its callbacks
    scheduled)."""
    knobs = state.box.knobs
    existing = state.book.charges.get(idempotency_key)
    # Drawn only for a new charge, as before the rules moved out (the seeded draws stay put).
    declined = (
        existing is None
        and idempotency_key not in state.book.tombstones
        and (state.box.chance(knobs.decline_rate))
    )
    try:
        charge, new = state.book.charge(
            idempotency_key,
            data.payment_id,
            data.amount,
            charge_id=f"ch_{secrets.token_hex(8)}",
            declined=declined,
            now=_now(),
            capture_after_s=knobs.capture_after_ms / 1000 if knobs.strict else None,
        )
    except Refused as refused:
        SIM_PROVIDER_CHARGES.labels("refused_voided").inc()
        return problem_response(409, "Charge voided", str(refused))
    if not new:
        SIM_PROVIDER_CHARGES.labels("replayed").inc()
        return _charge_answer(charge, status=200)
    SIM_PROVIDER_CHARGES.labels(charge.outcome if declined else "accepted").inc()
    if declined and not knobs.decline_via_callback:
        return problem_response(
            402, "Card declined", "the issuer declined the charge", charge_id=charge.charge_id
        )
    if state.box.chance(knobs.missing_callback_rate):
        SIM_PROVIDER_CALLBACKS.labels("dropped").inc()
    else:
        copies = 2 if state.box.chance(knobs.duplicate_callback_rate) else 1
        if copies > 1:
            SIM_PROVIDER_CALLBACKS.labels("duplicated").inc()
        foreign = state.box.chance(knobs.foreign_callback_rate)
        state.spawn(_deliver_callbacks(state, charge, copies, foreign))
    if knobs.answer_delay_ms:
        await asyncio.sleep(knobs.answer_delay_ms / 1000)
    return _charge_answer(charge, status=201)


def create_app(state: ProviderState) -> FaultInjector:
    """The provider app wrapped in its fault injector."""

    @post("/charges")
    async def create_charge(
        data: ChargeBody, idempotency_key: Annotated[str, Parameter(header="Idempotency-Key")]
    ) -> Response[Any]:
        return await make_charge(state, data, idempotency_key)

    @post("/charges/{key:str}/void")
    async def void_charge(key: str) -> Response[Any]:
        try:
            charge, voided = state.book.void(key, strict=state.box.knobs.strict, now=_now())
        except Refused as refused:
            SIM_PROVIDER_CHARGES.labels("void_refused_captured").inc()
            return problem_response(409, "Charge captured", str(refused), error="captured")
        if charge is None:
            return Response({"voided": False})
        return Response({"voided": voided, "charge_id": charge.charge_id})

    @post("/charges/{key:str}/refund")
    async def refund_charge(key: str) -> Response[Any]:
        known = state.book.charges.get(key)
        again = known is not None and known.state == "refunded"
        try:
            charge, refunded = state.book.refund(key, now=_now())
        except Refused as refused:
            return problem_response(409, "Charge not captured", str(refused), error="authorized")
        if charge is None or not refunded:
            return Response({"refunded": False})
        if not again:
            SIM_PROVIDER_CHARGES.labels("refunded").inc()
        return Response({"refunded": True, "charge_id": charge.charge_id})

    @get("/charges", sync_to_thread=False)
    def list_charges() -> list[dict[str, Any]]:
        return [_charge_json(c) for c in state.book.charges.values()]

    @get("/charges/{key:str}", sync_to_thread=False)
    def read_charge(key: str) -> Response[Any]:
        charge = state.book.charges.get(key)
        if charge is None:
            return problem_response(404, "Not found", f"no charge {key}")
        return Response(_charge_json(charge))

    app = Litestar(
        [
            create_charge,
            void_charge,
            refund_charge,
            list_charges,
            read_charge,
            *admin_handlers(state.box),
        ],
        on_shutdown=[lambda: _cancel_tasks(state)],
    )
    return FaultInjector(app, state)


def _now() -> float:
    """The provider's clock: the event loop's (strict-mode captures are on it)."""
    return asyncio.get_running_loop().time()


def _charge_json(charge: Charge) -> dict[str, Any]:
    return {
        "charge_id": charge.charge_id,
        "key": charge.key,
        "payment_id": charge.payment_id,
        "amount": charge.amount,
        "outcome": charge.outcome,
        "status": charge.status(_now()),
        "callbacks_sent": charge.callbacks_sent,
        "callback_ms": charge.callback_ms,
    }


def _charge_answer(charge: Charge, *, status: int) -> Response[Any]:
    return Response({"charge_id": charge.charge_id, "status": "pending"}, status_code=status)


async def _cancel_tasks(state: ProviderState) -> None:
    for task in list(state.tasks):
        task.cancel()
    await state.close()


async def _deliver_callbacks(
    state: ProviderState, charge: Charge, copies: int, foreign: bool
) -> None:
    """Send the callback (redeliveries keep the event id), retrying like a real provider; a
    foreign one (another charge's, ``foreign_callback_status``) first, halfway through the
    delay."""
    knobs = state.box.knobs
    delay = state.box.jittered_s(knobs.callback_delay_ms, knobs.callback_delay_jitter_ms)
    if foreign:
        await asyncio.sleep(delay / 2)
        other = f"ch_foreign_{charge.charge_id}"
        body = msgspec.json.encode(
            {
                "event_id": f"evt_{other}",
                "type": f"charge.{knobs.foreign_callback_status}",
                "payment_id": charge.payment_id,
                "charge_id": other,
                "status": knobs.foreign_callback_status,
            }
        )
        await _post_until_acknowledged(state.http, state, body)
        SIM_PROVIDER_CALLBACKS.labels("foreign").inc()
        delay /= 2
    await asyncio.sleep(delay)
    body = msgspec.json.encode(
        {
            "event_id": f"evt_{charge.charge_id}",
            "type": f"charge.{charge.outcome}",
            "payment_id": charge.payment_id,
            "charge_id": charge.charge_id,
            "status": charge.outcome,
        }
    )
    for copy in range(copies):
        if copy:
            # A redelivery comes later and is signed anew, as a real provider's: the API drops
            # only a replay of the same signed delivery, so this copy reaches the saga's own
            # de-duplication by event id.
            await asyncio.sleep(REDELIVERY_GAP_S)
        began = asyncio.get_running_loop().time()
        await _post_until_acknowledged(state.http, state, body)
        charge.callbacks_sent += 1
        charge.callback_ms.append(round((asyncio.get_running_loop().time() - began) * 1000))


async def _post_until_acknowledged(
    client: httpx.AsyncClient, state: ProviderState, body: bytes
) -> None:
    delay = 0.5
    for _ in range(12):
        headers = {
            "content-type": "application/json",
            signing.SIGNATURE_HEADER: signing.sign(state.secret, body),
        }
        try:
            response = await client.post(state.callback_url, content=body, headers=headers)
            # Like a real processor: only a 2xx acknowledges; a 4xx (say, a signature refused
            # for clock skew or during a botched secret rotation) is retried, never dropped.
            if response.is_success:
                SIM_PROVIDER_CALLBACKS.labels("delivered").inc()
                return
            log.warning("callback refused: %s %s", response.status_code, response.text[:200])
        except httpx.HTTPError as exc:
            log.warning("callback delivery failed: %r", exc)
        SIM_PROVIDER_CALLBACKS.labels("delivery_failed").inc()
        await asyncio.sleep(delay)
        delay = min(delay * 2, 8.0)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the provider process."""

    args = parse_args("python -m simulators.provider", argv)
    if not args.config:
        raise SystemExit("--config is required: the provider reads the webhook secret from it")
    config = load_config(args.config, needs=NEEDS["sim-provider"])
    callback_url = config.callback_url
    knobs = KnobBox(initial_knobs(ProviderKnobs, args.knobs))
    state = ProviderState(
        knobs,
        callback_url,
        config.webhook_secret,
        config=config,
    )
    serve(guarded(counting(create_app(state), knobs), config.admin_token), args.host, args.port)


if __name__ == "__main__":
    main()
