"""The provider simulator retries a callback the API refused with a 4xx, as a real processor
does, instead of counting it delivered."""

from __future__ import annotations

import httpx

from orchestrator import signing
from simulators.common import KnobBox
from simulators.provider import ProviderKnobs, ProviderState, _post_until_acknowledged


async def test_a_4xx_is_retried_until_a_2xx() -> None:
    answers = iter([401, 400, 200])
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers[signing.SIGNATURE_HEADER])
        return httpx.Response(next(answers))

    state = ProviderState(KnobBox(ProviderKnobs()), "http://api/webhooks/gateway", "s" * 32)
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        await _post_until_acknowledged(client, state, b"{}")
    assert len(seen) == 3
    for header in seen:  # every attempt carries a valid signature of its own
        signing.verify(["s" * 32], b"{}", header)
