"""Bearer API keys: each maps to one user; the key file is JSON ``{"<key>": "<user>"}``."""

from __future__ import annotations

import hmac
import json
import secrets
from pathlib import Path

from orchestrator.api.errors import Unauthenticated


class ApiKeys:
    """The key table, checked in constant time per key; re-read when its file changes."""

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
        scheme, _, key = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not key:
            raise Unauthenticated("send 'Authorization: Bearer <api key>'")
        self._refresh()
        user = None
        for known, owner in self._keys.items():
            if hmac.compare_digest(known.encode(), key.strip().encode()):
                user = owner
        if user is None:
            raise Unauthenticated("unknown API key")
        return user


def generate_keys(users: list[str], path: str | Path) -> dict[str, str]:
    """Create one random key per user, add them to the key file, and return ``{user: key}``."""
    path = Path(path)
    table: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    new = {f"sk_{user}_{secrets.token_urlsafe(18)}": user for user in users}
    table.update(new)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(table, indent=2))
    tmp.chmod(0o600)
    tmp.replace(path)  # atomic: the API never reads half a file
    return {user: key for key, user in new.items()}
