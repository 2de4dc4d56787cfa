"""The harness's seams into the product: one module, behind one switch.

``StackConfig.harness_seams`` is off in every deployment; the embedded stack (the harness's)
turns it on. Then, and only then:

- **failpoints** (:mod:`orchestrator.failpoints`): the account service delays or stalls the
  ledger operations ``<state dir>/failpoints.json`` names;
- **partial links** (:mod:`orchestrator.partial_links`): HTTP clients send a seeded share of
  their requests through a link's twin, as ``<state dir>/partial-links.json`` says, and open a
  connection per request when Toxiproxy is on the links (it counts a connection's bytes when
  the connection closes, and a fault's effect is read from those bytes).

With the switch off neither file is read: nothing written into a deployment's state directory
can slow its ledger or reroute its requests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from orchestrator.config import StackConfig
from orchestrator.failpoints import FILE_NAME as FAILPOINTS_FILE
from orchestrator.failpoints import Failpoints
from orchestrator.partial_links import link_client, pool_limits


def failpoints(config: StackConfig) -> Failpoints:
    """The account service's failpoints: the state directory's file, or none at all."""
    return Failpoints(Path(config.state_dir) / FAILPOINTS_FILE if config.harness_seams else None)


def http_client(config: StackConfig, **client_args: Any) -> httpx.AsyncClient:
    """An HTTP client for calls between services: one that follows the partial links, or a
    plain pooled one."""
    faulted = config.toxiproxy_api is not None
    if not config.harness_seams:
        return httpx.AsyncClient(limits=pool_limits(faulted=faulted), **client_args)
    return link_client(config.state_dir, faulted=faulted, **client_args)
