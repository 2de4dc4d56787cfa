"""How the API reads Temporal's NOT_FOUND: an unknown workflow is an unknown payment (404), an
unreadable namespace (a cluster whose database is down answers so) is an outage (503), so a
client keeps retrying its create and the provider keeps redelivering its callback."""

from __future__ import annotations

import pytest
from google.protobuf.any_pb2 import Any as AnyProto
from temporalio.api.common.v1 import GrpcStatus
from temporalio.api.errordetails.v1 import NamespaceNotFoundFailure, NotFoundFailure
from temporalio.service import RPCError, RPCStatusCode

from orchestrator.api.errors import PaymentNotFound, TemporalUnavailable
from orchestrator.api.service import _call, namespace_not_found


def _not_found(detail: NamespaceNotFoundFailure | NotFoundFailure | None) -> RPCError:
    status = GrpcStatus(code=RPCStatusCode.NOT_FOUND.value, message="not found")
    if detail is not None:
        packed = AnyProto()
        packed.Pack(detail)
        status.details.append(packed)
    return RPCError("not found", RPCStatusCode.NOT_FOUND, status.SerializeToString())


async def _raising(error: Exception) -> None:
    raise error


async def test_a_namespace_that_cannot_be_read_is_an_outage() -> None:
    error = _not_found(NamespaceNotFoundFailure(namespace="default"))
    assert namespace_not_found(error)
    with pytest.raises(TemporalUnavailable):
        await _call(_raising(error), "pay_x")


@pytest.mark.parametrize("detail", [NotFoundFailure(), None], ids=["workflow", "no-detail"])
async def test_an_unknown_workflow_is_an_unknown_payment(detail: NotFoundFailure | None) -> None:
    error = _not_found(detail)
    assert not namespace_not_found(error)
    with pytest.raises(PaymentNotFound):
        await _call(_raising(error), "pay_x")


def test_an_unparsable_status_is_a_plain_not_found() -> None:
    assert not namespace_not_found(RPCError("x", RPCStatusCode.NOT_FOUND, b"\xff\xff"))


@pytest.mark.parametrize(
    "code", [RPCStatusCode.RESOURCE_EXHAUSTED, RPCStatusCode.FAILED_PRECONDITION]
)
async def test_a_busy_temporal_is_a_503_not_a_500(code: RPCStatusCode) -> None:
    """Issue 30: these reached the client as 500s; a 503 with Retry-After tells it to retry."""
    with pytest.raises(TemporalUnavailable) as err:
        await _call(_raising(RPCError("busy", code, b"")), "pay_x")
    assert err.value.status == 503 and err.value.headers["Retry-After"]
