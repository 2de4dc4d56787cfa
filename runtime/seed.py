"""Opening accounts and issuing API keys; ``python -m runtime.seed`` for docker-compose.

The embedded stack seeds its demo users through :func:`open_account`; under docker-compose a
one-shot ``init`` service runs this module against the shared ``/data`` volume and registers
the ``PaymentStatus`` search attribute on the Temporal server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Sequence

from orchestrator.api.auth import credentials_path, generate_keys
from orchestrator.config import StackConfig, load_config
from orchestrator.ledger import Ledger
from orchestrator.reconcile import ensure_schedule
from orchestrator.temporal_client import connect, register_search_attributes

# user -> (opening balance in minor units, active, allowed methods or None for all)
DEMO_ACCOUNTS: dict[str, tuple[int, bool, tuple[str, ...] | None]] = {
    "alice": (1_000_000, True, None),
    "bob": (500_000, True, None),
    "carol": (200_000, False, None),
    "dave": (500, True, None),
    "erin": (300_000, True, ("card",)),
}


def open_account(
    config: StackConfig,
    user: str,
    balance: int,
    *,
    active: bool = True,
    methods: tuple[str, ...] | None = None,
) -> str:
    """Open a ledger account (if new) and issue an API key for it; returns the key."""
    ledger = Ledger(config.ledger_path)
    if methods is None:
        ledger.open_account(user, balance, active=active)
    else:
        ledger.open_account(user, balance, active=active, methods=methods)
    return generate_keys([user], config.api_keys_path)[user]


class OpensAccounts:
    """``add_account`` for a stack that keeps its users' keys in ``api_keys``."""

    api_keys: dict[str, str]

    def add_account(
        self,
        config: StackConfig,
        user: str,
        balance: int,
        *,
        active: bool = True,
        methods: tuple[str, ...] | None = None,
    ) -> str:
        """Open a ledger account (if new) and issue an API key for it; returns the key."""
        key = self.api_keys[user] = open_account(
            config, user, balance, active=active, methods=methods
        )
        return key


def seed_demo(config: StackConfig) -> dict[str, str]:
    """Open every demo account; returns ``{user: api key}``."""
    return {
        user: open_account(config, user, balance, active=active, methods=methods)
        for user, (balance, active, methods) in DEMO_ACCOUNTS.items()
    }


def main(argv: Sequence[str] | None = None) -> None:
    """Seed the demo users, register the search attribute and create the reconciler's schedule
    (docker-compose ``init``); with ``--user``, open that one account instead and print
    ``{"user": key}`` (the harness attacking a compose deployment opens its users so)."""
    parser = argparse.ArgumentParser(prog="python -m runtime.seed")
    parser.add_argument("--config", required=True)
    parser.add_argument("--user", help="open this account only; print its API key as JSON")
    parser.add_argument("--balance", type=int, default=1_000_000, help="with --user")
    parser.add_argument("--inactive", action="store_true", help="with --user")
    parser.add_argument("--methods", help="with --user: allowed methods, comma separated")
    args = parser.parse_args(argv)
    config = load_config(args.config, needs=())
    if args.user:
        methods = tuple(args.methods.split(",")) if args.methods else None
        key = open_account(
            config, args.user, args.balance, active=not args.inactive, methods=methods
        )
        print(json.dumps({args.user: key}))
        return

    async def register() -> None:
        client = await connect(config, wait_s=120)
        await register_search_attributes(client)
        await ensure_schedule(client)

    asyncio.run(register())
    users = ", ".join(sorted(seed_demo(config)))
    print(f"API keys of {users} written to {credentials_path(config.api_keys_path)} (mode 0600)")


if __name__ == "__main__":
    main()
