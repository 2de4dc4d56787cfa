"""The network links worth breaking, as Toxiproxy proxies (client: ``toxiproxy-python``).

=========  ==================================  ======================================
link       from                                to
=========  ==================================  ======================================
temporal   workers                             Temporal frontend (gRPC)
provider   provider activities                 provider simulator
callbacks  provider simulator (webhooks)       API
fraud      fraud scoring activity              fraud simulator
notify     notification activity               notification simulator
db         account workers (the ledger)        PostgreSQL (cluster backend only)
=========  ==================================  ======================================

This module is the only one that talks to Toxiproxy.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any, TypeVar, cast

import httpx
import requests
import toxiproxy.api
from prometheus_client.parser import text_string_to_metric_families
from toxiproxy import Toxiproxy

from runtime.process_names import CLUSTER_ONLY_LINKS, LINKS

#: Suffix of a link's twin proxy, which carries a partial toxic at full toxicity.
TWIN = "-partial"

_CONSUMER = threading.RLock()  # methods call each other
F = TypeVar("F", bound=Callable[..., Any])


def _on_this_server(method: F) -> F:
    """toxiproxy-python keeps the server's address in class attributes, shared by every client
    in the process: point them at this stack's server, under a lock, for each call (a test
    process runs several stacks)."""

    @functools.wraps(method)
    def pointed(self: Links, *args: Any, **kwargs: Any) -> Any:
        with _CONSUMER:
            self.server.update_api_consumer(self.host, self.port)
            # Its calls are requests.get/post/delete(url=..., ...): a session answers the same
            # calls and carries this server's token, if it has one.
            toxiproxy.api.requests = self.session
            return method(self, *args, **kwargs)

    return cast(F, pointed)


class Links:
    """The proxies of one stack, on one Toxiproxy server."""

    def __init__(self, host: str, port: int, token: str | None = None) -> None:
        """``token``: the bearer token a guarded API wants (a compose deployment's
        ``$SAGA_TOXIPROXY_TOKEN``, :mod:`runtime.toxiproxy_guard`); None for the embedded
        stack's, on loopback."""
        self.server = Toxiproxy()
        self.host, self.port = host, port
        self.api = f"http://{host}:{port}"
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.session = requests.Session()
        self.session.headers.update(self.headers)

    def traffic(self, timeout_s: float = 2.0) -> dict[str, int]:
        """Bytes each link has carried so far, both directions (Toxiproxy's proxy metrics: the
        server runs with ``-proxy-metrics``). A fault's effect is read from how these grow."""
        text = httpx.get(f"{self.api}/metrics", headers=self.headers, timeout=timeout_s).text
        carried: dict[str, int] = {}
        for family in text_string_to_metric_families(text):
            if family.name != "toxiproxy_proxy_received_bytes":
                continue
            for sample in family.samples:
                proxy = sample.labels.get("proxy", "")
                carried[proxy] = carried.get(proxy, 0) + int(sample.value)
        return carried

    @_on_this_server
    def create(self, name: str, listen_port: int, upstream: str) -> None:
        """Create (or re-create) a proxy listening on 127.0.0.1:listen_port."""
        existing = self.server.get_proxy(name)
        if existing is not None:
            existing.destroy()
        self.server.create(upstream=upstream, name=name, listen=f"127.0.0.1:{listen_port}")

    @_on_this_server
    def _proxy(self, name: str) -> Any:
        proxy = self.server.get_proxy(name)
        if proxy is None:
            known = ", ".join(LINKS + CLUSTER_ONLY_LINKS)
            raise KeyError(f"no Toxiproxy link {name!r} on this stack; links are {known}")
        return proxy

    @_on_this_server
    def add_toxic(
        self,
        link: str,
        name: str,
        toxic_type: str,
        attributes: dict[str, Any],
        stream: str,
    ) -> None:
        """Add a toxic to a link, on every connection (partial toxicity goes through a twin:
        :meth:`open_twin`)."""
        self._proxy(link).add_toxic(
            name=name, type=toxic_type, stream=stream, toxicity=1.0, attributes=attributes
        )

    @_on_this_server
    def remove_toxic(self, link: str, name: str) -> None:
        """Remove a toxic (no error if it is already gone)."""
        proxy = self._proxy(link)
        if proxy.get_toxic(name) is not None:
            proxy.destroy_toxic(name)

    @_on_this_server
    def set_enabled(self, link: str, enabled: bool) -> None:
        """Take a link down (drops its connections, refuses new ones) or bring it back up."""
        proxy = self._proxy(link)
        if enabled:
            proxy.enable()
        else:
            proxy.disable()

    @_on_this_server
    def reset(self) -> None:
        """Every link up, every toxic removed, every twin gone."""
        self.server.reset()
        for name in list(self.server.proxies()):
            if name.endswith(TWIN):
                self._proxy(name).destroy()

    @_on_this_server
    def listen_port(self, link: str) -> int:
        """The port clients dial for this link."""
        return int(str(self._proxy(link).listen).rsplit(":", 1)[1])

    @_on_this_server
    def open_twin(self, link: str, port: int) -> str:
        """A second proxy to the link's upstream, on ``port``, for a partial toxic (see
        ``orchestrator.partial_links``); returns its name."""
        name = link + TWIN
        self.create(name, port, str(self._proxy(link).upstream))
        return name

    @_on_this_server
    def close_twin(self, link: str) -> None:
        """Remove the link's twin (no error if it is gone)."""
        twin = self.server.get_proxy(link + TWIN)
        if twin is not None:
            twin.destroy()

    @_on_this_server
    def state(self) -> dict[str, dict[str, Any]]:
        """Each link's enabled flag and toxics, for the steady-state check and the journal."""
        return {
            name: {"enabled": proxy.enabled, "toxics": sorted(proxy.toxics())}
            for name, proxy in self.server.proxies().items()
        }
