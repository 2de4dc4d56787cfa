"""Deterministic simulation in virtual time (``saga explore --virtual``).

The real saga workflows run on a deterministic model of the Temporal server and SDK core
(:mod:`~chaos.explore.virtual.kernel`), the ledger real (SQLite on a memory-backed file), the
provider, fraud and notification services in-process models (:mod:`~chaos.explore.virtual.world`),
every fault schedule drawn from a seed (:mod:`~chaos.explore.virtual.schedule`), judged by the same
pure checkers as a run on the real stack and explored, shrunk and handed off by
:mod:`~chaos.explore.virtual.explore`.
"""
