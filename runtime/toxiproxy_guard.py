"""A bearer token in front of Toxiproxy's API, which has no authentication of its own.

In the compose deployment Toxiproxy's API listens on its container's loopback only, and this
guard shares the container's network namespace (``network_mode: service:toxiproxy``): it
listens on the app network's address and on the published port, and forwards a request to the
API only when it carries ``Authorization: Bearer $SAGA_TOXIPROXY_TOKEN``. ``GET /version``
(the health check) and ``GET /metrics`` (Prometheus' scrape: byte counts per link) stay open:
they read, and change nothing. The harness sends the token (:mod:`runtime.links`).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, cast

import httpx
import uvicorn
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send

from orchestrator.bearer import bearer_guard
from orchestrator.errors import ConfigError
from orchestrator.problems import send_problem
from orchestrator.secrets import TOXIPROXY_TOKEN_ENV, required_secret

#: Reads that change nothing, open to the health check and to Prometheus.
OPEN_READS = ("/version", "/metrics")


def needs_token(method: str, path: str) -> bool:
    """Everything but the open reads."""
    return not (method == "GET" and path in OPEN_READS)


def forwarding(upstream: str, transport: httpx.AsyncBaseTransport | None = None) -> ASGIApp:
    """An ASGI app that replays each request on ``upstream`` (Toxiproxy's API) and answers
    with its status, content type and body."""
    client = httpx.AsyncClient(base_url=upstream, transport=transport, timeout=30.0)

    async def forward(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            return  # lifespan: nothing to start
        body = b""
        while True:
            message = await receive()
            body += cast(bytes, message.get("body", b""))
            if not message.get("more_body"):
                break
        headers = {
            k.decode(): v.decode() for k, v in scope["headers"] if k in (b"content-type", b"accept")
        }
        try:
            answer = await client.request(
                scope["method"],
                str(scope["path"]),
                params=scope["query_string"].decode(),
                content=body,
                headers=headers,
            )
        except httpx.HTTPError as exc:
            await send_problem(send, 502, "Toxiproxy unreachable", f"{upstream}: {exc}")
            return
        reply = [(b"content-length", str(len(answer.content)).encode())]
        if "content-type" in answer.headers:
            reply.append((b"content-type", answer.headers["content-type"].encode()))
        await send_raw(send, answer.status_code, reply, answer.content)

    return forward


async def send_raw(send: Any, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    """An HTTP answer from raw ASGI."""
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def guard_app(
    upstream: str, token: str, transport: httpx.AsyncBaseTransport | None = None
) -> ASGIApp:
    """Toxiproxy's API at ``upstream``, behind ``token``."""
    return bearer_guard(forwarding(upstream, transport), token, needs_token, "toxiproxy")


def main(argv: list[str] | None = None) -> int:
    """``python -m runtime.toxiproxy_guard --host H --port P --upstream URL``."""
    parser = argparse.ArgumentParser(description="A bearer token in front of Toxiproxy's API")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8475)
    parser.add_argument("--upstream", default="http://127.0.0.1:8474", help="Toxiproxy's API")
    args = parser.parse_args(argv)
    try:
        token = required_secret(TOXIPROXY_TOKEN_ENV, os.environ)
    except ConfigError as exc:
        print(f"toxiproxy-guard: {exc}", file=sys.stderr)
        return 2
    uvicorn.run(
        guard_app(args.upstream, token),
        host=args.host,
        port=args.port,
        log_level="warning",
        lifespan="off",
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
