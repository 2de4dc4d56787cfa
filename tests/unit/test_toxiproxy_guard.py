"""The token in front of Toxiproxy's API: what it lets through, and what it forwards."""

from __future__ import annotations

import secrets

import httpx
import pytest

from runtime.toxiproxy_guard import guard_app

TOKEN = secrets.token_hex(32)


def upstream(request: httpx.Request) -> httpx.Response:
    """Stands for Toxiproxy's API: echoes what reached it."""
    return httpx.Response(
        201 if request.method == "POST" else 200,
        json={
            "method": request.method,
            "path": request.url.path,
            "query": request.url.query.decode(),
            "body": request.content.decode(),
        },
    )


def client() -> httpx.AsyncClient:
    app = guard_app("http://toxiproxy", TOKEN, httpx.MockTransport(upstream))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://guard")


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/proxies"), ("POST", "/proxies"), ("POST", "/reset"), ("DELETE", "/proxies/x")],
)
async def test_a_request_without_the_token_never_reaches_toxiproxy(method: str, path: str) -> None:
    async with client() as guard:
        for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": TOKEN}):
            answer = await guard.request(method, path, headers=headers)
            assert answer.status_code == 401, headers
            assert answer.headers["www-authenticate"] == 'Bearer realm="toxiproxy"'
            assert "method" not in answer.json()


async def test_with_the_token_the_request_is_forwarded_whole() -> None:
    async with client() as guard:
        answer = await guard.post(
            "/proxies/provider/toxics",
            params={"a": "1"},
            json={"type": "latency"},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
    assert answer.status_code == 201
    echoed = answer.json()
    assert echoed["path"] == "/proxies/provider/toxics" and echoed["query"] == "a=1"
    assert echoed["body"] == '{"type":"latency"}'


async def test_the_health_check_and_the_scrape_need_no_token() -> None:
    async with client() as guard:
        assert (await guard.get("/version")).status_code == 200
        assert (await guard.get("/metrics")).status_code == 200
        assert (await guard.post("/metrics")).status_code == 401
