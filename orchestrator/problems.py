"""RFC 9457 problem details: every error answer of the API and the simulators is built here."""

from __future__ import annotations

import re
from typing import Any

import msgspec
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
    """The problem-details document (for answers sent below the framework, as raw ASGI). Its
    ``type`` is a stable URI named from the title (:func:`problem_type`), so a client tells two
    problems of one status apart (a wrong field from a reused Idempotency-Key, both 422)."""
    return {
        "type": problem_type(title),
        "title": title,
        "status": status,
        "detail": detail,
        **extra,
    }


def problem_type(title: str) -> str:
    """``urn:saga:problem:<title in kebab case>``: stable while the title is."""
    return "urn:saga:problem:" + "-".join(re.findall(r"[a-z0-9]+", title.lower()))


async def send_problem(
    send: Any,
    status: int,
    title: str,
    detail: str,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    """Answer with a problem document from raw ASGI (a layer outside the framework)."""
    body = msgspec.json.encode(problem(status, title, detail))
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", PROBLEM_JSON.encode()),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
