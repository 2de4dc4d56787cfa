"""The OpenAPI document tells the truth: bearer auth, every status with its problem schema,
Idempotency-Key required, the webhook's body and signature header, the stack's own limits."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.api.app import create_app
from orchestrator.api.auth import ApiKeys
from orchestrator.api.service import MAX_WAIT_S
from orchestrator.models import SagaOptions
from tests.unit.stack_configs import unreachable_config


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    config = unreachable_config(saga=SagaOptions(max_amount=12_345), currencies=["USD", "EUR"])
    schema: dict[str, Any] = create_app(config, ApiKeys({})).openapi_schema.to_schema()
    return schema


def _operation(document: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    operation: dict[str, Any] = document["paths"][path][method]
    return operation


OPERATIONS = [
    ("post", "/payments", {"202", "400", "401", "403", "413", "415", "422", "429", "431", "503"}),
    ("get", "/payments/{payment_id}", {"200", "400", "401", "404", "429", "431", "503"}),
    ("get", "/payments/{payment_id}/state", {"200", "401", "404", "429", "431", "503"}),
    ("post", "/payments/{payment_id}/cancel", {"202", "401", "404", "409", "429", "431", "503"}),
    ("post", "/webhooks/gateway", {"200", "400", "401", "413", "422", "429", "431", "503"}),
]


@pytest.mark.parametrize(("method", "path", "statuses"), OPERATIONS)
def test_every_status_is_documented_as_a_problem(
    document: dict[str, Any], method: str, path: str, statuses: set[str]
) -> None:
    responses = _operation(document, method, path)["responses"]
    assert set(responses) == statuses
    for status, response in responses.items():
        if status.startswith("4") or status.startswith("5"):
            assert list(response["content"]) == ["application/problem+json"], status
            schema = response["content"]["application/problem+json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/Problem"}, status


def test_problem_schema_is_rfc_9457(document: dict[str, Any]) -> None:
    problem = document["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status", "detail"}
    assert {"type", "title", "status", "detail", "errors"} <= set(problem["properties"])


def test_api_key_routes_use_the_bearer_scheme_and_no_authorization_parameter(
    document: dict[str, Any],
) -> None:
    scheme = document["components"]["securitySchemes"]["bearer"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    for method, path, _ in OPERATIONS:
        operation = _operation(document, method, path)
        names = {p["name"] for p in operation.get("parameters", [])}
        assert "Authorization" not in names
        expected = None if path.startswith("/webhooks") else [{"bearer": []}]
        assert operation.get("security") == expected, path


def test_idempotency_key_is_required(document: dict[str, Any]) -> None:
    parameters = _operation(document, "post", "/payments")["parameters"]
    key = next(p for p in parameters if p["name"] == "Idempotency-Key")
    assert key["required"] is True
    schema = key["schema"]
    assert (schema["type"], schema["minLength"], schema["maxLength"]) == ("string", 1, 200)


def test_the_webhook_documents_its_body_and_signature_header(document: dict[str, Any]) -> None:
    operation = _operation(document, "post", "/webhooks/gateway")
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/GatewayEvent"}
    signature = next(p for p in operation["parameters"] if p["name"] == "Saga-Signature")
    assert signature["required"] is True
    assert signature["in"] == "header"
    assert signature["schema"]["pattern"].startswith("^t=")


def test_the_stack_limits_are_in_the_document(document: dict[str, Any]) -> None:
    fields = document["components"]["schemas"]["PaymentCreate"]["properties"]
    assert fields["amount"]["type"] == "integer"
    assert (fields["amount"]["exclusiveMinimum"], fields["amount"]["maximum"]) == (0, 12_345)
    assert fields["currency"]["enum"] == ["USD", "EUR"]
    assert "user_id" not in document["components"]["schemas"]["PaymentCreate"]["required"]


def test_the_status_reads_wait_is_bounded_by_the_servers_long_poll(
    document: dict[str, Any],
) -> None:
    (wait,) = [
        p
        for p in _operation(document, "get", "/payments/{payment_id}")["parameters"]
        if p["name"] == "wait"
    ]
    assert (wait["in"], wait["required"]) == ("query", False)
    assert (wait["schema"]["minimum"], wait["schema"]["maximum"]) == (0, MAX_WAIT_S)


@pytest.mark.parametrize("body", ["PaymentCreate", "GatewayEvent"])
def test_request_bodies_refuse_unknown_fields(document: dict[str, Any], body: str) -> None:
    assert document["components"]["schemas"][body]["additionalProperties"] is False


def test_a_created_payment_links_to_the_routes_that_take_its_id(document: dict[str, Any]) -> None:
    links = _operation(document, "post", "/payments")["responses"]["202"]["links"]
    operation_ids = {
        _operation(document, method, path)["operationId"] for method, path, _ in OPERATIONS[1:4]
    }
    assert {link["operationId"] for link in links.values()} == operation_ids
    for link in links.values():
        assert link["parameters"] == {"payment_id": "$response.body#/payment_id"}
