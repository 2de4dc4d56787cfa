"""Secrets from the environment: ``NAME`` or ``NAME_FILE`` (a file holding it, as Docker and
Kubernetes mount secrets), and the check that refuses a placeholder or a guessable value.

A deployment gives each service only the secrets it uses (docker-compose.yml): the API the
webhook and payment-id secrets, the provider the webhook secret, the simulators the admin token.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

from orchestrator.errors import ConfigError

#: The token that guards the simulators' admin and evidence endpoints.
ADMIN_TOKEN_ENV = "SAGA_ADMIN_TOKEN"
#: The token in front of Toxiproxy's API in a deployment (runtime/toxiproxy_guard.py).
TOXIPROXY_TOKEN_ENV = "SAGA_TOXIPROXY_TOKEN"
MIN_SECRET_LENGTH = 32
#: Bits per character below which a value is a pattern, not a secret (hex from
#: ``secrets.token_hex`` has about 3.7 over 64 characters, base64 about 5).
MIN_BITS_PER_CHAR = 3.0
#: Words the placeholders of .env.example and the docs are made of.
PLACEHOLDER_WORDS = ("replace", "change", "example", "placeholder", "secret", "password")
GENERATE = 'python3 -c "import secrets; print(secrets.token_hex(32))"'


def secret_from_env(name: str, environ: Mapping[str, str]) -> str | None:
    """``$NAME``, else the contents of the file ``$NAME_FILE`` (trailing newline dropped), else
    None. A ``_FILE`` that cannot be read is an error naming it."""
    if name in environ:
        return environ[name]
    path = environ.get(f"{name}_FILE")
    if path is None:
        return None
    try:
        return Path(path).read_text().rstrip("\n")
    except OSError as exc:
        raise ConfigError(f"${name}_FILE: cannot read {path}: {exc.strerror}") from exc


def bits_per_char(value: str) -> float:
    """Shannon entropy of the value's characters."""
    counts = Counter(value)
    return sum(n / len(value) * math.log2(len(value) / n) for n in counts.values())


def weakness(value: str) -> str | None:
    """Why ``value`` is not fit to be a secret, or None when it is."""
    if len(value) < MIN_SECRET_LENGTH:
        return f"expected a secret of at least {MIN_SECRET_LENGTH} characters"
    lowered = value.lower()
    word = next((w for w in PLACEHOLDER_WORDS if w in lowered), None)
    if word is not None:
        return f"a placeholder (it contains {word!r}), not a secret"
    if bits_per_char(value) < MIN_BITS_PER_CHAR:
        return f"too regular to be a secret ({bits_per_char(value):.1f} bits per character)"
    return None


def required_secret(name: str, environ: Mapping[str, str]) -> str:
    """``$NAME`` (or ``NAME_FILE``), which must be set and fit to be a secret: a
    :class:`ConfigError` naming it and saying how to make one otherwise."""
    value = secret_from_env(name, environ)
    if not value:
        raise ConfigError(f"${name} is not set: generate one with {GENERATE}")
    problem = weakness(value)
    if problem:
        raise ConfigError(f"${name}: {problem}; generate one with {GENERATE}")
    return value
