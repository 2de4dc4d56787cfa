"""RFC 9457 problem details: every error answer of the API and the simulators is built here."""

from __future__ import annotations

from typing import Any

from litestar import Response

PROBLEM_JSON = "application/problem+json"


def problem_response(
    status: int,
    title: str,
    detail: str,
    *,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response[dict[str, Any]]:
    """A problem-details response; ``extra`` adds members such as ``errors``."""
    body = problem(status, title, detail, **extra)
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def problem(status: int, title: str, detail: str, **extra: Any) -> dict[str, Any]:
    """The problem-details document (for answers sent below the framework, as raw ASGI)."""
    return {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
