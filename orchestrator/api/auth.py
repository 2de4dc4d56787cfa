"""Bearer API keys: each maps to one user; the key file is JSON ``{"<key>": "<user>"}``."""

from __future__ import annotations

import hmac
import json
import secrets
from pathlib import Path

from orchestrator.api.errors import Unauthenticated


class ApiKeys:
    """The key table, checked in constant time per key."""

    def __init__(self, keys: dict[str, str]) -> None:
        self._keys = dict(keys)

    @classmethod
    def load(cls, path: str | Path) -> ApiKeys:
        """Read the key file."""
        return cls(json.loads(Path(path).read_text()))

    def user_for(self, authorization: str | None) -> str:
        """The user a ``Bearer <key>`` header belongs to; raises :class:`Unauthenticated`."""
        scheme, _, key = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not key:
            raise Unauthenticated("send 'Authorization: Bearer <api key>'")
        user = None
        for known, owner in self._keys.items():
            if hmac.compare_digest(known.encode(), key.strip().encode()):
                user = owner
        if user is None:
            raise Unauthenticated("unknown API key")
        return user


def generate_keys(users: list[str], path: str | Path) -> dict[str, str]:
    """Create one random key per user, write the key file, and return ``{user: key}``."""
    table = {f"sk_{user}_{secrets.token_urlsafe(18)}": user for user in users}
    Path(path).write_text(json.dumps(table, indent=2))
    Path(path).chmod(0o600)
    return {user: key for key, user in table.items()}
