"""A bearer-token check in front of an ASGI app, for the surfaces only the harness may use (the
simulators' admin endpoints, Toxiproxy's API): 401 with ``WWW-Authenticate`` and a problem
document, the token compared in constant time."""

from __future__ import annotations

import hmac
from collections.abc import Callable

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send

from orchestrator.problems import send_problem


def bearer_guard(
    app: ASGIApp, token: str, protects: Callable[[str, str], bool], realm: str
) -> ASGIApp:
    """``app``, answering 401 to a request ``protects(method, path)`` names unless it carries
    ``Authorization: Bearer <token>``."""
    expected = f"Bearer {token}".encode()
    challenge = f'Bearer realm="{realm}"'.encode()

    async def checked(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP and protects(scope["method"], str(scope["path"])):
            given = dict(scope["headers"]).get(b"authorization", b"")
            if not hmac.compare_digest(given, expected):
                await send_problem(
                    send,
                    401,
                    "Admin token required",
                    "send Authorization: Bearer <token>",
                    [(b"www-authenticate", challenge)],
                )
                return
        await app(scope, receive, send)

    return checked
