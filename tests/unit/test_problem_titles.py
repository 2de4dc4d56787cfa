"""Every problem has a human title and a stable type (issue 30): framework class names never
leak as titles, and the two 422s are told apart by ``type``."""

from __future__ import annotations

import json
from typing import Any

from litestar.exceptions import MethodNotAllowedException, NotFoundException

from orchestrator.api.app import _api_error, _http_error
from orchestrator.api.errors import IdempotencyConflict, InvalidField


def body(response: Any) -> dict[str, Any]:
    return dict(json.loads(response.render(response.content, "application/problem+json")))


def test_framework_errors_get_the_status_phrase_not_a_class_name() -> None:
    missing = body(_http_error(None, NotFoundException("no route")))  # type: ignore[arg-type]
    assert missing["title"] == "Not Found"
    assert missing["type"] == "urn:saga:problem:not-found"
    wrong = _http_error(None, MethodNotAllowedException(headers={"Allow": "GET"}))  # type: ignore[arg-type]
    assert body(wrong)["title"] == "Method Not Allowed" and wrong.headers["Allow"] == "GET"


def test_the_two_422s_have_different_types() -> None:
    field = body(_api_error(None, InvalidField("Expected int", "amount")))  # type: ignore[arg-type]
    reused = body(_api_error(None, IdempotencyConflict("other body")))  # type: ignore[arg-type]
    assert field["status"] == reused["status"] == 422
    assert field["type"] == "urn:saga:problem:invalid-request"
    assert reused["type"] == "urn:saga:problem:idempotency-key-reused-with-a-different-request"
