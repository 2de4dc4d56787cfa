"""Basic auth in front of a deployment's Prometheus: the web config it is started with, and the
credentials its clients send (the harness's queries, k6's remote write, Grafana).

Prometheus checks a bcrypt hash (``--web.config.file``), so the password cannot go into a file
committed with the compose file. ``python -m runtime.prometheus_auth OUT`` (docker-compose.yml's
one-shot ``prometheus-auth`` service) hashes ``$SAGA_PROMETHEUS_PASSWORD`` into ``OUT`` before
Prometheus starts. The embedded stack's Prometheus listens on loopback for the user who started
it and asks for nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from pathlib import Path

import bcrypt

from orchestrator.errors import ConfigError
from orchestrator.secrets import required_secret, secret_from_env

#: The one user Prometheus knows; its password is the secret.
PROMETHEUS_USER = "saga"
PROMETHEUS_PASSWORD_ENV = "SAGA_PROMETHEUS_PASSWORD"


def credentials(environ: Mapping[str, str] = os.environ) -> tuple[str, str] | None:
    """``(user, password)`` for a Prometheus that asks for them, from ``$SAGA_PROMETHEUS_PASSWORD``
    (or its ``_FILE``); None when none is set, as for the embedded stack's."""
    password = secret_from_env(PROMETHEUS_PASSWORD_ENV, environ)
    return (PROMETHEUS_USER, password) if password else None


def web_config_yaml(password: str) -> str:
    """Prometheus' web config asking every request for :data:`PROMETHEUS_USER` and ``password``
    (bcrypt, cost 10: each request pays the hash, so not more)."""
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=10)).decode()
    return (
        "# Written by runtime.prometheus_auth at start: every request, the remote-write\n"
        "# receiver and the health endpoints included, wants basic auth.\n"
        f"basic_auth_users:\n  {PROMETHEUS_USER}: {hashed}\n"
    )


def write_web_config(out: Path, environ: Mapping[str, str] = os.environ) -> None:
    """Write the web config for the password in ``environ``; a missing or weak one is refused."""
    password = required_secret(PROMETHEUS_PASSWORD_ENV, environ)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(web_config_yaml(password))
    out.chmod(0o644)  # Prometheus runs as another user; the file holds a hash, not the password


def main(argv: list[str] | None = None) -> int:
    """``python -m runtime.prometheus_auth OUT``: one line and exit 2 on a refused password."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("out", type=Path, help="where to write Prometheus' web config")
    args = parser.parse_args(argv)
    try:
        write_web_config(args.out)
    except ConfigError as exc:
        print(f"prometheus-auth: {exc}", file=sys.stderr)
        return 2
    print(f"prometheus-auth: wrote {args.out} (user {PROMETHEUS_USER})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
