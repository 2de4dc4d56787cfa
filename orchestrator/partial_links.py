"""Partial toxicity, per request and by seed, for the HTTP clients on the stack's links.

Toxiproxy rolls a toxic's ``toxicity`` once per connection, from a generator it does not let us
seed (v2.12.0 discards its ``-seed``), and the clients keep connections alive: a toxic at
toxicity 0.5 then hits all requests or none, differently on every run. So the harness applies a
partial toxic differently: it opens a *twin* of the link (a second Toxiproxy proxy to the same
upstream) carrying the toxic at full toxicity, and lists it in ``<state>/partial-links.json``::

    {"<link port>": {"link": "callbacks", "twin_port": 40123, "toxicity": 0.5,
                     "seed": 23, "token": "run-3f2a:0"}}

Each client on a link (the workers' calls to the simulators, the provider's callbacks) routes
every request through :class:`PartialLinkTransport`: the Nth request to a listed port since the
entry's ``token`` appeared goes to the twin when ``Random(f"{seed}:{link}:{N}").random() <
toxicity``. The same seed and the same order of requests hit the same requests on every run.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

import httpx

FILE_NAME = "partial-links.json"


class PartialLinks:
    """The table of partial toxics, re-read when the file changes."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._stamp: float | None = None
        self._table: dict[str, dict[str, Any]] = {}
        self._counts: dict[str, int] = {}

    def _reload(self) -> None:
        try:
            stamp = os.stat(self.path).st_mtime_ns
        except FileNotFoundError:
            self._stamp, self._table = None, {}
            return
        if stamp != self._stamp:
            self._stamp = stamp
            try:
                self._table = json.loads(self.path.read_text() or "{}")
            except (OSError, ValueError):
                self._table = {}

    def route(self, port: int | None) -> int | None:
        """The port this request should use: the twin's when the draw hits, else its own."""
        self._reload()
        entry = self._table.get(str(port))
        if entry is None:
            return port
        token = str(entry["token"])
        n = self._counts.get(token, 0)
        self._counts[token] = n + 1
        draw = random.Random(f"{entry['seed']}:{entry['link']}:{n}").random()
        return int(entry["twin_port"]) if draw < float(entry["toxicity"]) else port


def write_table(path: str | Path, table: dict[str, dict[str, Any]]) -> None:
    """Replace the table atomically (the harness's side)."""
    path = Path(path)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(table))
    temporary.replace(path)


class PartialLinkTransport(httpx.AsyncBaseTransport):
    """An httpx transport that sends each request through the twin of its link when drawn."""

    def __init__(self, links: PartialLinks, inner: httpx.AsyncBaseTransport) -> None:
        self.links = links
        self.inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Route, then send."""
        port = self.links.route(request.url.port)
        if port != request.url.port:
            request.url = request.url.copy_with(port=port)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        """Close the inner transport."""
        await self.inner.aclose()


def pool_limits(*, faulted: bool) -> httpx.Limits:
    """A connection per request when Toxiproxy is on the links (it counts a connection's bytes
    when it closes, and the harness proves a link fault's effect by the bytes that crossed the
    link during it); a pool of kept-alive connections otherwise."""
    return httpx.Limits(max_keepalive_connections=0 if faulted else 20)


def link_client(state_dir: str | Path, *, faulted: bool, **client_args: Any) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` whose requests follow the partial toxics of ``state_dir``.

    ``faulted``: the stack puts Toxiproxy on the links (see :func:`pool_limits`).
    """
    links = PartialLinks(Path(state_dir) / FILE_NAME)
    inner = httpx.AsyncHTTPTransport(limits=pool_limits(faulted=faulted))
    return httpx.AsyncClient(transport=PartialLinkTransport(links, inner), **client_args)
