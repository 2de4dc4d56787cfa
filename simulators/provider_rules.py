"""The mock provider's rules, as a state machine with no I/O and no clock of its own.

One model of the provider, used twice: the HTTP simulator (:mod:`simulators.provider`) wraps it
in knobs, latency and webhooks; the virtual world (``chaos.explore.virtual.world``) wraps it in
a schedule's plan and virtual time. The rules:

- A charge is keyed by its idempotency key: a second attempt under a key gets the same charge.
- Lenient mode: a void that finds no charge leaves a *tombstone*, and a charge arriving later
  under that key is refused (409). Strict mode, as a real processor: no tombstone, the late
  charge is authorized.
- Strict mode: an authorization becomes a capture ``capture_after_s`` after it was made. A void
  of a capture is refused (409); a refund of an authorization is refused (409: void it).
- A void of a declined or voided charge changes nothing; a refund of a declined or voided one
  refunds nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Outcome = Literal["succeeded", "declined"]
Status = Literal["authorized", "captured", "declined", "voided", "refunded"]


class Refused(Exception):
    """The provider refuses the request (409); ``why`` names the rule: ``voided`` (a charge
    after its void's tombstone), ``captured`` (a void of a capture), ``authorized`` (a refund of
    an authorization)."""

    def __init__(self, why: Literal["voided", "captured", "authorized"], key: str) -> None:
        self.why = why
        self.key = key
        super().__init__(
            {
                "voided": f"{key} was voided",
                "captured": f"{key} was captured and cannot be voided",
                "authorized": f"{key} is an authorization: void it",
            }[why]
        )


@dataclass
class Charge:
    """One charge, keyed by its idempotency key."""

    charge_id: str
    key: str
    payment_id: str
    amount: int
    outcome: Outcome
    state: Literal["authorized", "declined", "voided", "refunded"]
    captures_at: float | None = None
    """Strict mode: when (on the caller's clock) the authorization becomes a capture."""
    callbacks_sent: int = 0
    callback_ms: list[int] = field(default_factory=list)
    """How long each delivered callback took to be acknowledged (the HTTP simulator's)."""

    def status(self, now: float) -> Status:
        """The charge's status at ``now`` (an authorization turns into a capture in strict
        mode)."""
        captured = self.captures_at is not None and now >= self.captures_at
        return "captured" if self.state == "authorized" and captured else self.state


@dataclass
class Provider:
    """Every charge the provider holds, and the keys its voids left tombstones for."""

    charges: dict[str, Charge] = field(default_factory=dict)
    tombstones: set[str] = field(default_factory=set)

    def charge(
        self,
        key: str,
        payment_id: str,
        amount: int,
        *,
        charge_id: str,
        declined: bool,
        now: float,
        capture_after_s: float | None = None,
    ) -> tuple[Charge, bool]:
        """A charge attempt under ``key``: (the charge, whether it is new). :class:`Refused`
        after a tombstone. ``capture_after_s`` (strict mode) captures an authorization that
        long after it was made."""
        if key in self.tombstones:
            raise Refused("voided", key)
        existing = self.charges.get(key)
        if existing is not None:
            return existing, False
        made = Charge(
            charge_id=charge_id,
            key=key,
            payment_id=payment_id,
            amount=amount,
            outcome="declined" if declined else "succeeded",
            state="declined" if declined else "authorized",
            captures_at=now + capture_after_s
            if capture_after_s is not None and not declined
            else None,
        )
        self.charges[key] = made
        return made, True

    def void(self, key: str, *, strict: bool, now: float) -> tuple[Charge | None, bool]:
        """Void the charge under ``key``: (the charge if any, whether it is voided now).
        :class:`Refused` for a capture. With no charge, lenient mode leaves a tombstone."""
        charge = self.charges.get(key)
        if charge is None:
            if not strict:
                self.tombstones.add(key)
            return None, False
        status = charge.status(now)
        if status == "captured":
            raise Refused("captured", key)
        if status in ("declined", "voided", "refunded"):
            return charge, status == "voided"
        charge.state = "voided"
        return charge, True

    def refund(self, key: str, *, now: float) -> tuple[Charge | None, bool]:
        """Refund the capture under ``key``: (the charge if any, whether it is refunded now).
        :class:`Refused` for an authorization (it must be voided)."""
        charge = self.charges.get(key)
        status = charge.status(now) if charge is not None else None
        if charge is None or status in ("declined", "voided"):
            return charge, False
        if status == "authorized":
            raise Refused("authorized", key)
        charge.state = "refunded"
        return charge, True
