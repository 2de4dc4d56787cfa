"""Progress of a long command: how far it is, and how long the rest should take."""

from __future__ import annotations

import time


def time_left(done: int, total: int, began: float) -> str:
    """``12s elapsed, about 30s to go`` after ``done`` of ``total`` steps begun at ``began``
    (``time.monotonic()``); the estimate is the mean step so far times the steps left."""
    elapsed = time.monotonic() - began
    eta = elapsed / done * (total - done) if done else 0.0
    return f"{elapsed:.0f}s elapsed, about {eta:.0f}s to go"
