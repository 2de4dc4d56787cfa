"""Webhook replay protection: the API drops a replayed delivery before it reaches the saga.

A delivery is named by its event id and its signature's timestamp. A replay of a captured request
carries both unchanged (a sender without the secret cannot re-sign), so it is dropped here; a
provider's own redelivery is signed anew, with a later timestamp, and goes through to the saga,
whose durable de-duplication by event id is the rule that keeps money safe (and the one the
duplicate-callbacks scenario exercises). Entries live for the replay window, longer than the
signature tolerance, so a replay is stale before it is forgotten; the store is bounded.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

MAX_ENTRIES = 100_000

Delivery = tuple[str, int]
"""(event id, signature timestamp)."""


class ReplayGuard:
    """The deliveries seen in the last ``window_s`` seconds (a window of 0 remembers none)."""

    def __init__(
        self,
        window_s: float,
        max_entries: int = MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.window_s = window_s
        self.max_entries = max_entries
        self.clock = clock
        self._expiry: OrderedDict[Delivery, float] = OrderedDict()

    def claim(self, delivery: Delivery) -> bool:
        """True for a delivery not seen in the window (it is remembered from now); False for a
        replay, or a copy of one still being signalled."""
        if self.window_s <= 0:
            return True
        now = self.clock()
        while self._expiry and next(iter(self._expiry.values())) <= now:
            self._expiry.popitem(last=False)
        if delivery in self._expiry:
            return False
        self._expiry[delivery] = now + self.window_s
        if len(self._expiry) > self.max_entries:
            self._expiry.popitem(last=False)
        return True

    def release(self, delivery: Delivery) -> None:
        """Forget a delivery whose signal failed, so the provider's retry of it gets through."""
        self._expiry.pop(delivery, None)

    def __len__(self) -> int:
        return len(self._expiry)
