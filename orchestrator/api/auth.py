"""Bearer API keys: each maps to one user.

The API's key file holds only hashes, JSON ``{"sha256:<hex of the key>": "<user>"}``; the keys
themselves are shown once, to whoever minted them, and kept for clients in a separate
credentials file ``{"<user>": "<key>"}`` (both mode 0600). Keys are 144-bit random tokens, so an
unsalted SHA-256 is enough: a stolen key file gives no usable key.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from pathlib import Path
from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler

from orchestrator.api.errors import Unauthenticated
from orchestrator.private_files import write_private


class ApiKeys:
    """The hashed key table, looked up by the hash of the presented key; re-read on change."""

    def __init__(self, keys: dict[str, str], path: Path | None = None) -> None:
        self._keys = dict(keys)
        self._path = path
        self._mtime = path.stat().st_mtime_ns if path else 0

    @classmethod
    def load(cls, path: str | Path) -> ApiKeys:
        """Read the key file."""
        path = Path(path)
        return cls(json.loads(path.read_text()), path)

    def _refresh(self) -> None:
        # The harness adds users (and their keys) while the API runs.
        if self._path is None:
            return
        mtime = self._path.stat().st_mtime_ns
        if mtime != self._mtime:
            self._keys = json.loads(self._path.read_text())
            self._mtime = mtime

    def user_for(self, authorization: str | None) -> str:
        """The user a ``Bearer <key>`` header belongs to; raises :class:`Unauthenticated`."""
        key = presented_key(authorization)
        if key is None:
            raise Unauthenticated("send 'Authorization: Bearer <api key>'")
        self._refresh()
        user = self._keys.get(key_hash(key))
        if user is None:
            raise Unauthenticated("unknown API key")
        return user


def presented_key(authorization: str | None) -> str | None:
    """The key of a ``Bearer <key>`` header as authentication reads it (the scheme in any case,
    spaces around the key ignored), or None. The rate limit keys on exactly this, so
    ``bearer K`` and ``Bearer  K`` share one bucket."""
    scheme, _, key = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return key.strip() or None


def key_hash(key: str) -> str:
    """How the key file names a key."""
    return "sha256:" + hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()


def credentials_path(keys_path: str | Path) -> Path:
    """The clients' file of ``{user: key}`` next to the API's key file."""
    return Path(keys_path).with_name("credentials.json")


def _read(path: Path) -> dict[str, str]:
    table: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    return table


def generate_keys(users: list[str], path: str | Path) -> dict[str, str]:
    """Mint one random key per user, revoking the user's earlier keys; store the hashes in the
    key file and the keys in the credentials file; return ``{user: key}``."""
    path = Path(path)
    new = {user: f"sk_{user}_{secrets.token_urlsafe(18)}" for user in users}
    table = {h: owner for h, owner in _read(path).items() if owner not in new}
    table.update({key_hash(key): user for user, key in new.items()})
    write_private(path, json.dumps(table, indent=2).encode())
    credentials = credentials_path(path)
    write_private(credentials, json.dumps(_read(credentials) | new, indent=2).encode())
    return new


def authenticated(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Litestar guard of the payment routes, run before anything else reads the request: the
    API key names the user (401 otherwise), kept for the ``user`` dependency."""
    keys: ApiKeys = connection.app.state.api_keys
    connection.state.user = keys.user_for(connection.headers.get("Authorization"))


def current_user(request: Request[Any, Any, Any]) -> str:
    """The ``user`` dependency: who the guard authenticated."""
    user: str = request.state.user
    return user
