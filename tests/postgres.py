"""A throwaway PostgreSQL server for tests: :func:`runtime.postgres.throwaway_server`, stopped
on every path."""

from __future__ import annotations

from runtime.postgres import ThrowawayServer as PostgresServer
from runtime.postgres import throwaway_server as postgres_server

__all__ = ["PostgresServer", "postgres_server"]
