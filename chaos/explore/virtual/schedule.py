"""Fault schedules: what goes wrong for each payment, and when, all drawn from one seed.

A schedule is a few payments of one user, started within a second of each other (so they race
for the velocity limit and the balance), and what every service does to each. Faults use the
vocabulary of the scenario files, in virtual time: a ledger outage window, attempts that fail,
attempts lost after their effect (a worker crash), attempts slower than their timeout, a
provider that declines, captures, forgets voids or makes a charge long after its client gave
up, callbacks early, late, duplicated, missing or
for another charge, fraud slow, failing or rejecting, notifications failing or refusing a
channel, account workers whose clocks disagree, a completed payment deleted and its request
retried with the same key, and one interrupt per payment (the ``cancel`` signal, a Temporal
cancel or a termination) aimed at a step.

The same seed always draws the same schedule; a schedule is also a JSON file
(``saga explore --virtual --replay FILE``), which is how a shrunk one is kept.
"""

from __future__ import annotations

import random
from typing import Literal

import msgspec

Interrupt = Literal["none", "cancel", "temporal_cancel", "terminate"]
Callback = Literal["normal", "early", "missing", "duplicate", "foreign", "late"]
Fraud = Literal["pass", "reject", "error", "slow"]
Channel = Literal["email", "sms"]

#: Steps an interrupt can be aimed at: the activity in flight when it arrives, or
#: ``await_confirmation``, the wait for the provider's callback after the charge returned.
#: (``check_velocity`` runs only on builds before the atomic velocity patch; ``validate_payment``
#: only on payments started before validated-debit, which the saga's mutants of that older path
#: run: an interrupt aimed there misses on the current path.)
STEPS = (
    "validate_payment",
    "debit_account",
    "charge_payment",
    "await_confirmation",
    "score_payment",
    "void_charge",
    "refund_account",
    "send_notification",
)
#: Longer than any account step's retry budget (about 165 s with the default retry options).
LONG_OUTAGE_S = 400.0


class PaymentPlan(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Everything that happens to one payment (defaults: nothing goes wrong)."""

    amount: int = 2_500
    method: str = "card"
    start_s: float = 0.0
    """When the payment is made, in virtual seconds from the schedule's start."""
    latency_s: float = 0.05
    """How long each service call takes (callbacks arrive this long after their charge)."""
    debit_lost: bool = False
    """The first debit attempt commits, then its worker dies before reporting."""
    debit_slow: bool = False
    """The first debit attempt's database call stalls past its 10 s timeout and then commits
    (a stalled disk: the worker cannot cancel a call on its thread)."""
    debit_stall_s: float = 12.0
    """With ``debit_slow``: how long the stalled attempt takes before it runs (its checks and
    its commit then see the ledger as it is at that time), from its start."""
    refund_failures: int = 0
    """Refund attempts that fail before one succeeds."""
    charge_failures: int = 0
    """Charge attempts the provider answers 503 before it takes one."""
    charge_lost: bool = False
    """The first charge attempt is authorized, then lost before the saga hears of it."""
    charge_late_s: float = 0.0
    """The first charge attempt the provider takes goes unanswered (the worker gives up at its
    timeout) and the provider makes the charge this long after the attempt began, whatever
    happened meanwhile: a provider whose queue backed up processes it late (0: never)."""
    decline: bool = False
    """The provider declines the charge outright (402)."""
    callback: Callback = "normal"
    callback_status: Literal["succeeded", "declined"] = "succeeded"
    foreign_status: Literal["succeeded", "declined"] = "declined"
    """With ``callback: foreign``: what the other charge's callback says."""
    strict_provider: bool = False
    """The provider's strict mode: no void-before-charge tombstones (a void that found nothing
    is forgotten), and an authorization is captured ``capture_after_s`` after it is made (a void
    is then refused)."""
    capture_after_s: float = 10.0
    fraud: Fraud = "pass"
    notify_failures: int = 0
    """Notification attempts that fail, counted over the notice's first attempts and its later
    retries (``durable-notice``)."""
    deleted_then_retried: bool = False
    """Once its saga completed, its execution is deleted (``temporal workflow delete``, as
    retention does) and the client retries its ``POST /payments`` with the same key: the API's
    request log (the real ``RequestLog``) must answer it as the payment, starting nothing."""
    interrupt: Interrupt = "none"
    interrupt_at: str = "debit_account"
    interrupt_frac: float = 0.5
    """Where in the step the interrupt lands, 0 (its start) to 1 (its report)."""


class Schedule(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One seed's payments, all of one user."""

    seed: int
    balance: int = 100_000
    velocity_max_payments: int = 100
    ledger_outage: tuple[float, float] | None = None
    """(start, length) in virtual seconds: the database is locked; a ledger call waits for the
    lock up to the ledger's lock wait (5 s), commits if the outage ends meanwhile, else fails."""
    provider_outage: tuple[float, float] | None = None
    """(start, length): the provider answers every charge, void and refund with a 503."""
    notify_outage: tuple[float, float] | None = None
    """(start, length): the notification service answers every notice with a 503."""
    refused_channels: list[Channel] = []
    """Channels the notification service refuses for good (a 422 ``ChannelRefused``), as its
    ``refused_channels`` knob does."""
    account_clocks_s: list[float] = []
    """The account workers' own clocks, seconds off true time, one per worker (empty: one
    worker, its clock exact). Account calls go to the workers in turn. The ledger stamps and
    judges by the database's clock, so only a ledger that reads the worker's meets the skew."""
    account_attempts: int = 20
    """``account_retry.maximum_attempts`` (20, about 165 s of retries, by default)."""
    charge_attempts: int = 6
    """``charge_retry.maximum_attempts``."""
    reconcile_at_s: list[float] = []
    """Reconciler passes (``ReconcileWorkflow``, grace 0) at these virtual times; one more runs
    after every termination and one at the end, after every saga has finished."""
    payments: list[PaymentPlan]


def _few(rng: random.Random, most: int) -> int:
    """0 most of the time, else 1 to ``most``."""
    return 0 if rng.random() < 0.65 else rng.randint(1, most)


def draw_payment(rng: random.Random) -> PaymentPlan:
    """One payment's plan."""
    interrupt: Interrupt = rng.choice(
        [
            "none",
            "none",
            "none",
            "cancel",
            "cancel",
            "temporal_cancel",
            "temporal_cancel",
            "terminate",
        ]
    )
    return PaymentPlan(
        amount=rng.choice([100, 2_500, 40_000]),
        method=rng.choice(["card", "card", "wallet"]),
        start_s=round(rng.uniform(0, 1), 3),
        latency_s=rng.choice([0.02, 0.2, 1.5]),
        debit_lost=rng.random() < 0.1,
        debit_slow=rng.random() < 0.1,
        refund_failures=_few(rng, 12),
        charge_failures=_few(rng, 8),
        charge_lost=rng.random() < 0.1,
        decline=rng.random() < 0.1,
        callback=rng.choice(
            ["normal", "normal", "early", "missing", "duplicate", "foreign", "late"]
        ),
        callback_status="declined" if rng.random() < 0.15 else "succeeded",
        strict_provider=rng.random() < 0.3,
        capture_after_s=rng.choice([0.0, 2.0, 10.0]),
        fraud=rng.choice(["pass", "pass", "pass", "reject", "error", "slow"]),
        notify_failures=_few(rng, 4),
        interrupt=interrupt,
        interrupt_at=rng.choice(STEPS),
        interrupt_frac=round(rng.random(), 3),
    )


#: When an unanswered charge lands: after its saga closed, and before, near or after the
#: reconciler's passes that follow it.
CHARGE_LATE_S = (30.0, 90.0, 200.0)
#: The real reconciler runs every minute; a schedule samples a few of those passes.
LATER_PASSES_S = (20.0, 400.0)


#: Stalls of a slow debit: just past the attempt's timeout, past a sibling payment's refund (a
#: fraud timeout, about 35 s), past a callback timeout (300 s).
DEBIT_STALLS_S = (12.0, 12.0, 45.0, 400.0)


def extend(
    rng: random.Random, late: random.Random, together: random.Random, plan: PaymentPlan
) -> PaymentPlan:
    """Draw the fields the vocabulary gained after the first draws, each generation from a
    stream of its own, so every older seed keeps the schedule it had. One interrupt in six is
    aimed at the very end of its step (``interrupt_frac`` 1): it lands with the step's report,
    in one activation (an activity result and a cancel together), on purpose."""
    charge_late_s = late.choice(CHARGE_LATE_S) if late.random() < 0.1 else 0.0
    foreign: Literal["succeeded", "declined"] = late.choice(["declined", "succeeded"])
    frac = 1.0 if together.random() < 1 / 6 else plan.interrupt_frac
    return msgspec.structs.replace(
        plan,
        debit_stall_s=rng.choice(DEBIT_STALLS_S),
        charge_late_s=charge_late_s,
        foreign_status=foreign,
        interrupt_frac=frac,
    )


#: The fields of a plan that make something go wrong (the rest say what the payment is).
FAULT_FIELDS = (
    "debit_lost",
    "debit_slow",
    "refund_failures",
    "charge_failures",
    "charge_lost",
    "charge_late_s",
    "decline",
    "callback",
    "callback_status",
    "strict_provider",
    "fraud",
    "notify_failures",
    "interrupt",
)
#: One schedule in this many makes its first payment calm: nothing of its own goes wrong.
CALM_EVERY = 8


def calm(plan: PaymentPlan) -> PaymentPlan:
    """The plan with every fault field at its default (amount, method and timing kept)."""
    plain = PaymentPlan()
    return msgspec.structs.replace(plan, **{f: getattr(plain, f) for f in FAULT_FIELDS})


def healthy(schedule: Schedule, plan: PaymentPlan) -> bool:
    """Whether ``plan``'s payment meets no fault: its own fault fields at their defaults, no
    outage in the schedule, and no sibling whose debit stalls in the database."""
    plain = PaymentPlan()
    return (
        all(getattr(plan, f) == getattr(plain, f) for f in FAULT_FIELDS)
        and schedule.ledger_outage is None
        and schedule.provider_outage is None
        and schedule.notify_outage is None
        and not any(p.debit_slow for p in schedule.payments)
    )


def later_passes(seed: int) -> list[float]:
    """Reconciler passes after the first half minute (drawn from their own stream)."""
    rng = random.Random(f"{seed}:passes")
    return [round(rng.uniform(*LATER_PASSES_S), 3) for _ in range(rng.choice([0, 1, 2]))]


#: Outages of the provider and the notification service: minutes, or hours (free in virtual
#: time: past every retry budget but the compensations' and the notice's).
SERVICE_OUTAGES_S = (600.0, 3 * 3600.0)


def _outage(rng: random.Random) -> tuple[float, float] | None:
    """One time in ten, an outage starting in the first 3 s."""
    start, length = round(rng.uniform(0, 3), 3), rng.choice(SERVICE_OUTAGES_S)
    return (start, length) if rng.random() < 0.1 else None


def _hours(rng: random.Random) -> tuple[float, float] | None:
    """One schedule in thirty without a ledger outage gets one of an hour (a dozen rounds of
    compensation retries: dearer to run than the others, so rarer)."""
    start = round(rng.uniform(0, 3), 3)
    return (start, 3600.0) if rng.random() < 1 / 30 else None


def draw(seed: int, max_payments: int = 3) -> Schedule:
    """The schedule of ``seed``: 1 to ``max_payments`` payments of one user."""
    rng = random.Random(seed)
    later = random.Random(f"{seed}:extended")
    outages = random.Random(f"{seed}:outages")
    late = random.Random(f"{seed}:late-charge")
    together = random.Random(f"{seed}:together")
    quiet = random.Random(f"{seed}:calm")
    count = rng.randint(1, max_payments)
    outage = None
    if rng.random() < 0.25:
        outage = (round(rng.uniform(0, 3), 3), rng.choice([2.0, 30.0, LONG_OUTAGE_S]))
    return Schedule(
        seed=seed,
        balance=rng.choice([50_000, 100_000, 1_000_000]),
        velocity_max_payments=rng.choice([1, 2, 100]),
        account_attempts=rng.choice([20, 20, 1, 2, 3]),
        charge_attempts=rng.choice([6, 6, 2]),
        reconcile_at_s=sorted(
            [round(rng.uniform(0, 30), 3) for _ in range(rng.choice([0, 0, 1, 2]))]
            + later_passes(seed)
        ),
        payments=_retried_after_delete(
            random.Random(f"{seed}:reuse"),
            _calm_first(
                quiet, [extend(later, late, together, draw_payment(rng)) for _ in range(count)]
            ),
        ),
        provider_outage=_outage(outages),
        notify_outage=_outage(outages),
        ledger_outage=outage or _hours(outages),
        refused_channels=_refused_channels(random.Random(f"{seed}:channels")),
        account_clocks_s=_account_clocks(random.Random(f"{seed}:clocks")),
    )


#: How far off an account worker's clock may be: a few seconds, past the velocity window (60 s),
#: ten minutes; fast or slow.
CLOCK_SKEWS_S = (5.0, 90.0, 600.0)


def _account_clocks(rng: random.Random) -> list[float]:
    """One schedule in eight, two account workers, one clock exact and the other off."""
    if rng.random() >= 1 / 8:
        return []
    skew = rng.choice(CLOCK_SKEWS_S) * rng.choice([-1, 1])
    return [0.0, skew] if rng.random() < 0.5 else [skew, 0.0]


def _refused_channels(rng: random.Random) -> list[Channel]:
    """One schedule in ten, a channel the notification service refuses; one in a hundred,
    both."""
    roll = rng.random()
    if roll < 0.01:
        return ["email", "sms"]
    return [rng.choice(["email", "sms"])] if roll < 0.1 else []


def _retried_after_delete(rng: random.Random, plans: list[PaymentPlan]) -> list[PaymentPlan]:
    """Each payment, one time in twelve, deleted once completed and its request retried."""
    return [
        msgspec.structs.replace(p, deleted_then_retried=True) if rng.random() < 1 / 12 else p
        for p in plans
    ]


def _calm_first(rng: random.Random, plans: list[PaymentPlan]) -> list[PaymentPlan]:
    """One schedule in :data:`CALM_EVERY`: its first payment calm (from a stream of its own,
    so the others keep their draws), so a healthy payment is met often enough to judge."""
    if rng.random() < 1 / CALM_EVERY:
        return [calm(plans[0]), *plans[1:]]
    return plans


def encode(schedule: Schedule) -> bytes:
    """A schedule as indented JSON (what ``--replay FILE`` reads)."""
    return msgspec.json.format(msgspec.json.encode(schedule), indent=2) + b"\n"


def decode(raw: bytes, source: str) -> Schedule:
    """A schedule from JSON; a clear error naming ``source`` and the field."""
    try:
        return msgspec.json.decode(raw, type=Schedule)
    except msgspec.ValidationError as err:
        raise ValueError(f"{source}: {err}") from None
    except msgspec.DecodeError as err:
        raise ValueError(f"{source}: not JSON: {err}") from None
