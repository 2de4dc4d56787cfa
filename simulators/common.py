"""What every simulator shares: strict knob structs, the admin endpoints, and the process main.

``GET /admin/knobs`` shows the knobs; ``PATCH /admin/knobs`` merges a partial JSON object into
them after validating the result, so a bad value is a 422 naming the field and changes nothing.

With an admin token set (``$SAGA_ADMIN_TOKEN`` or ``_FILE``, or the config's ``admin_token``: a
deployment sets one), the admin surface (``/admin/...``) and the evidence a simulator keeps
(``GET /charges...``, ``GET /notifications``) answer 401 without ``Authorization: Bearer
<token>``: in a deployment the services that share a simulator's network are not the harness.
"""

from __future__ import annotations

import argparse
import os
import random
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

import msgspec
import uvicorn
from litestar import Litestar, Request, Response, get, patch
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send

from orchestrator.bearer import bearer_guard
from orchestrator.config import load_config
from orchestrator.metrics_export import metrics_endpoint
from orchestrator.problems import problem_response
from orchestrator.secrets import ADMIN_TOKEN_ENV, secret_from_env


class Knobs(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Base of every simulator's knobs; ``seed`` makes its random choices repeatable."""

    seed: int | None = None
    """Seed of the simulator's random choices; absent: the scenario's seed."""


K = TypeVar("K", bound=Knobs)

Rate = msgspec.Meta(ge=0.0, le=1.0, description="probability from 0 to 1")
NonNegative = msgspec.Meta(ge=0)


class KnobBox(Generic[K]):
    """The live knobs of one simulator and the random generator they seed."""

    def __init__(self, knobs: K) -> None:
        self.knobs = knobs
        self.rng = random.Random(knobs.seed)
        self.served = 0
        """Business requests answered so far (``GET /admin/stats``): a knob change that no
        request saw had no effect, and the harness says so."""

    def update(self, patch_body: bytes) -> K:
        """Validate and apply a partial update; raises ``msgspec.ValidationError`` unchanged."""
        changes = msgspec.json.decode(patch_body, type=dict[str, Any])
        merged = {**msgspec.to_builtins(self.knobs), **changes}
        knobs = msgspec.convert(merged, type=type(self.knobs))
        if knobs.seed != self.knobs.seed:
            self.rng = random.Random(knobs.seed)
        self.knobs = knobs
        return knobs

    def chance(self, rate: float) -> bool:
        """True with probability ``rate``."""
        return rate > 0 and self.rng.random() < rate

    def jittered_s(self, base_ms: int, jitter_ms: int) -> float:
        """``base_ms`` plus uniform jitter, in seconds."""
        return (
            max(0.0, base_ms + (self.rng.uniform(-jitter_ms, jitter_ms) if jitter_ms else 0)) / 1000
        )


def admin_handlers(box: KnobBox[Any]) -> list[Any]:
    """Route handlers for /health, /metrics and /admin/knobs bound to ``box``."""

    @get("/health", sync_to_thread=False)
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @get("/admin/knobs", sync_to_thread=False)
    def read_knobs() -> Any:
        return msgspec.to_builtins(box.knobs)

    @get("/admin/stats", sync_to_thread=False)
    def read_stats() -> dict[str, int]:
        return {"served": box.served}

    @patch("/admin/knobs")
    async def change_knobs(request: Request[Any, Any, Any]) -> Response[Any]:
        try:
            knobs = box.update(await request.body())
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            return problem_response(422, "Invalid knobs", str(exc), errors=[str(exc)])
        return Response(msgspec.to_builtins(knobs))

    return [health, read_knobs, read_stats, change_knobs, metrics_endpoint]


UNCOUNTED = ("/admin", "/health", "/metrics")
#: What the admin token guards: every method under /admin, and reads of the evidence.
ADMIN_PATHS = ("/admin",)
EVIDENCE_PATHS = ("/charges", "/notifications")


def is_admin(method: str, path: str) -> bool:
    """Whether a request touches the admin surface or reads a simulator's evidence."""
    return path.startswith(ADMIN_PATHS) or (method == "GET" and path.startswith(EVIDENCE_PATHS))


def guarded(app: ASGIApp, token: str) -> ASGIApp:
    """``app``, answering 401 to an admin request without ``Bearer <token>`` (no guard when
    ``token`` is empty: the embedded stack's simulators listen on loopback only)."""
    return bearer_guard(app, token, is_admin, "simulator admin") if token else app


def admin_token(config_path: str | None) -> str:
    """The admin token: ``$SAGA_ADMIN_TOKEN`` (or ``_FILE``), else the config's, else none."""
    token = secret_from_env(ADMIN_TOKEN_ENV, os.environ)
    if token is None and config_path:
        token = load_config(config_path, needs=()).admin_token
    return token or ""


def counting(app: ASGIApp, box: KnobBox[Any]) -> ASGIApp:
    """``app``, counting its business requests into ``box.served``."""

    async def counted(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP and not str(scope["path"]).startswith(UNCOUNTED):
            box.served += 1
        await app(scope, receive, send)

    return counted


def parse_args(prog: str, argv: Sequence[str] | None) -> argparse.Namespace:
    """Common flags: ``--port``, ``--knobs`` (JSON object of initial values), ``--config``."""
    parser = argparse.ArgumentParser(prog=prog)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--knobs", default="{}", help="initial knobs as a JSON object")
    parser.add_argument("--config", help="stack config.json")
    return parser.parse_args(argv)


def initial_knobs(knob_type: type[K], raw: str) -> K:
    """Decode the ``--knobs`` flag; a bad value exits with the field named."""
    try:
        return msgspec.json.decode(raw.encode(), type=knob_type)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise SystemExit(f"--knobs: {exc}") from exc


def run_simulator(
    prog: str,
    knob_type: type[K],
    create_app: Callable[[KnobBox[K]], Litestar],
    argv: Sequence[str] | None,
) -> None:
    """The main of a simulator whose app needs only its knobs."""
    args = parse_args(prog, argv)
    box = KnobBox(initial_knobs(knob_type, args.knobs))
    app = counting(create_app(box), box)
    serve(guarded(app, admin_token(args.config)), args.host, args.port)


def serve(app: Litestar | ASGIApp, host: str, port: int) -> None:
    """Run a simulator until SIGTERM."""
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
