"""Inputs and outputs of every workflow, activity, signal and query (frozen dataclasses).

These cross the Temporal data converter, so they hold only JSON-friendly fields. Changing a field
here changes recorded histories: add fields with defaults, never rename or remove one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datetime import timedelta

    from temporalio.common import RetryPolicy

PAYMENTS_QUEUE = "payments"
ACCOUNTS_QUEUE = "accounts"
FRAUD_QUEUE = "fraud"
NOTIFICATIONS_QUEUE = "notifications"


class PaymentState(StrEnum):
    """Lifecycle states of a payment, also published as the ``PaymentStatus`` search attribute."""

    PENDING = "pending"
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        """Whether no further transition can happen."""
        return self in (PaymentState.SUCCEEDED, PaymentState.FAILED, PaymentState.CANCELLED)

    @classmethod
    def ended_undecided(cls, recorded: str | None) -> PaymentState:
        """The final state of a payment whose execution closed without deciding (terminated,
        timed out): the terminal state its saga had recorded (``succeeded`` included: it is set
        before the notice), else ``failed``. The API shows it; the reconciler settles to it."""
        state = cls(recorded or cls.PENDING.value)
        return state if state.terminal else cls.FAILED


class Reason(StrEnum):
    """Machine-readable reasons a payment failed or was cancelled."""

    ACCOUNT_NOT_FOUND = "account_not_found"
    ACCOUNT_INACTIVE = "account_inactive"
    UNSUPPORTED_METHOD = "unsupported_method"
    INVALID_AMOUNT = "invalid_amount"
    AMOUNT_OVER_LIMIT = "amount_over_limit"
    CURRENCY_MISMATCH = "currency_mismatch"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    VELOCITY_LIMIT = "velocity_limit"
    PROVIDER_DECLINED = "provider_declined"
    PROVIDER_UNAVAILABLE = "provider_unavailable"
    CALLBACK_TIMEOUT = "callback_timeout"
    FRAUD_REJECTED = "fraud_rejected"
    FRAUD_CHECK_FAILED = "fraud_check_failed"
    CANCEL_REQUESTED = "cancel_requested"
    ACCOUNTS_UNAVAILABLE = "accounts_unavailable"
    """The account service's retries ran out (a ledger outage longer than the retry budget)."""
    REFUND_REQUIRES_REVIEW = "refund_requires_review"
    """The provider captured the charge and refused to void it: the debit stays, a person
    refunds it through the provider (counted, alerted)."""
    TERMINATED = "terminated"
    """The execution was terminated (or timed out) before the saga decided: the reconciler
    settles its money as a failed payment's and sends the notice."""
    PAYMENT_ID_REUSED = "payment_id_reused"
    """The payment id belongs to a payment the reconciler settled, whose execution was deleted
    (retention): this saga moved nothing, the first one's outcome stands."""
    INTERNAL_ERROR = "internal_error"
    """An unexpected error in the saga; compensated like any failure."""


class Compensation(StrEnum):
    """Kinds of compensation the saga can run."""

    VOID = "void"
    REFUND = "refund"
    FRAUD_CHECK_CANCELLED = "fraud_check_cancelled"


def backoff_s(
    attempt: int, initial_s: float = 0.0, coefficient: float = 0.0, maximum_s: float = 0.0
) -> float:
    """Temporal's wait after failed attempt ``attempt`` (1-based): ``initial`` times
    ``coefficient`` to the power ``attempt - 1``, capped at ``maximum``. Zero is unset, as in
    Temporal's protobuf, and takes the server's default: 1 s, 2.0, 100 times the initial
    interval. The one formula the virtual world and the SimPy model both use."""
    initial = initial_s or 1.0
    maximum = maximum_s or 100 * initial
    return float(min(initial * (coefficient or 2.0) ** (attempt - 1), maximum))


def policy_backoff_s(policy: RetryPolicy, attempt: int) -> float:
    """:func:`backoff_s` of an SDK ``RetryPolicy``."""

    def seconds(interval: timedelta | None) -> float:
        return interval.total_seconds() if interval else 0.0

    return backoff_s(
        attempt,
        seconds(policy.initial_interval),
        policy.backoff_coefficient,
        seconds(policy.maximum_interval),
    )


@dataclass(frozen=True)
class RetryOptions:
    """Exponential backoff of one saga step (the provider charge, the account steps)."""

    initial_interval_s: float = 1.0
    backoff_coefficient: float = 2.0
    maximum_interval_s: float = 30.0
    maximum_attempts: int = 6

    def backoff_s(self, attempt: int) -> float:
        """The wait after failed attempt ``attempt`` (:func:`backoff_s`)."""
        return backoff_s(
            attempt, self.initial_interval_s, self.backoff_coefficient, self.maximum_interval_s
        )


#: About 165 s of retries before an account step gives up (a ledger outage longer than that
#: fails the payment, compensated, with reason ``accounts_unavailable``).
DEFAULT_ACCOUNT_RETRY = RetryOptions(
    initial_interval_s=1.0, backoff_coefficient=2.0, maximum_interval_s=10.0, maximum_attempts=20
)


@dataclass(frozen=True)
class SagaOptions:
    """Per-deployment tunables, fixed for a workflow at its start."""

    callback_timeout_s: float = 300.0
    charge_retry: RetryOptions = field(default_factory=RetryOptions)
    max_amount: int = 1_000_000
    fraud_timeout_s: float = 60.0
    velocity_window_s: float = 60.0
    velocity_max_payments: int = 100
    account_retry: RetryOptions = field(default_factory=lambda: DEFAULT_ACCOUNT_RETRY)
    compensation_round_s: float = 360.0
    """Bound on one round of a compensation's retries, from its scheduling: past its 10
    attempts' backoff and timeouts (about 5 min), so only a round whose worker is absent (its
    task never started, so no start-to-close timeout runs) meets it, and fails and shows."""
    notice_give_up_s: float = 6 * 3600.0
    """How long a notice that failed its first attempts is retried (``durable-notice``): the
    payment's outcome is durable, so its notice waits out an outage of hours, not seconds."""


@dataclass(frozen=True)
class PaymentRequest:
    """Input of PaymentWorkflow."""

    payment_id: str
    user_id: str
    amount: int
    currency: str
    payment_method: str
    options: SagaOptions = field(default_factory=SagaOptions)


@dataclass(frozen=True)
class PaymentOutcome:
    """Result of PaymentWorkflow.

    ``status`` is the final status query's answer, so a finished payment's status is read from
    its close event without a worker replaying its history (None in results of earlier code).
    """

    payment_id: str
    state: str
    reason: str | None = None
    compensations: list[str] = field(default_factory=list)
    status: PaymentStatus | None = None


@dataclass(frozen=True)
class TimelineEntry:
    """One line of a payment's timeline (workflow time, ISO 8601)."""

    at: str
    event: str
    detail: str = ""


@dataclass(frozen=True)
class FraudCheckRequest:
    """Input of FraudCheckWorkflow and of the scoring activity."""

    payment_id: str
    user_id: str
    amount: int
    payment_method: str


@dataclass(frozen=True)
class FraudVerdict:
    """Result of FraudCheckWorkflow."""

    passed: bool
    score: float
    reasons: list[str] = field(default_factory=list)


@dataclass
class PaymentStatus:
    """Answer of the ``status`` query."""

    payment_id: str
    user_id: str
    amount: int
    currency: str
    payment_method: str
    state: str
    step: str
    provider_attempts: int = 0
    charge_id: str | None = None
    fraud: FraudVerdict | None = None
    reason: str | None = None
    compensations: list[str] = field(default_factory=list)
    notification: str | None = None
    timeline: list[TimelineEntry] = field(default_factory=list)
    compensations_retrying: list[str] = field(default_factory=list)
    """Compensations that failed a whole round of retries and are still being retried."""


@dataclass(frozen=True)
class ProviderConfirmation:
    """Signal: the provider's asynchronous confirmation of a charge."""

    event_id: str
    charge_id: str
    status: str  # "succeeded" | "declined"


@dataclass(frozen=True)
class CancelRequest:
    """Signal: the user asked to cancel the payment."""

    reason: str = "requested by user"


@dataclass(frozen=True)
class ValidateRequest:
    """Input of the ``validate_payment`` activity."""

    user_id: str
    amount: int
    currency: str
    payment_method: str
    max_amount: int


@dataclass(frozen=True)
class ValidationResult:
    """Result of ``validate_payment``: ``reason`` is set when the payment is invalid."""

    valid: bool
    reason: str | None = None
    detail: str = ""


@dataclass(frozen=True)
class VelocityRequest:
    """Input of ``check_velocity``: may this user make one more payment now?"""

    payment_id: str
    user_id: str
    window_s: float
    max_payments: int


@dataclass(frozen=True)
class PaymentChecks:
    """What ``validate_payment`` checks besides the account and the balance: a debit given
    these validates the payment in its own transaction before it moves money."""

    currency: str
    payment_method: str
    max_amount: int


@dataclass(frozen=True)
class LedgerRequest:
    """Input of ``debit_account`` and ``refund_account``.

    A refund ignores ``user_id`` and ``amount``: it gives back what the payment's debit took,
    to the account it was taken from. A debit with ``velocity_max_payments > 0`` also enforces
    the velocity limit, and one with ``checks`` also validates the payment (the
    ``validated-debit`` patch: one account call instead of two), both in the same transaction.
    """

    payment_id: str
    user_id: str
    amount: int
    velocity_window_s: float = 0.0
    velocity_max_payments: int = 0
    checks: PaymentChecks | None = None


@dataclass(frozen=True)
class LedgerResult:
    """Result of a ledger movement.

    ``amount`` is what moved (0 for a refund with no debit to undo); ``duplicate`` is true when
    the movement had already been applied under the same idempotency key.
    """

    amount: int
    balance_after: int
    duplicate: bool = False


@dataclass(frozen=True)
class ChargeRequest:
    """Input of the ``charge_payment`` activity."""

    payment_id: str
    user_id: str
    amount: int
    currency: str
    payment_method: str


@dataclass(frozen=True)
class ChargeResult:
    """Result of ``charge_payment``: the provider accepted the charge and will call back."""

    charge_id: str
    attempt: int


@dataclass(frozen=True)
class VoidRequest:
    """Input of ``void_charge``."""

    payment_id: str


@dataclass(frozen=True)
class VoidResult:
    """Result of ``void_charge``: ``voided`` is false when the provider held nothing to void."""

    voided: bool


@dataclass(frozen=True)
class ChargeRefundRequest:
    """Input of ``refund_charge``: give back what the provider captured for a payment."""

    payment_id: str


@dataclass(frozen=True)
class ChargeRefundResult:
    """Result of ``refund_charge``: ``refunded`` is false when nothing was captured."""

    refunded: bool


@dataclass(frozen=True)
class NotificationRequest:
    """Input of ``send_notification``."""

    notification_id: str
    payment_id: str
    user_id: str
    channel: str
    state: str
    reason: str | None = None


@dataclass(frozen=True)
class NotificationResult:
    """Result of ``send_notification``."""

    notification_id: str
    channel: str


@dataclass(frozen=True)
class LedgerDebit:
    """A debit the ledger holds (what the reconciler inspects)."""

    payment_id: str
    user_id: str
    amount: int
    created_at: str
    refunded: bool = False
    """Whether the payment's refund entry exists too (only unsettled payments' debits are
    listed with it; before the ``settled-payments`` patch only unrefunded ones were listed)."""


@dataclass(frozen=True)
class ProviderCharge:
    """A charge the provider holds (what the reconciler inspects)."""

    payment_id: str
    charge_id: str
    amount: int
    status: str  # "authorized" | "captured" | "declined" | "voided" | "refunded"


@dataclass(frozen=True)
class ExecutionFacts:
    """What Temporal knows of one payment's execution: close status and ``PaymentStatus``."""

    payment_id: str
    status: str  # "RUNNING", "COMPLETED", "TERMINATED", ... or "NOT_FOUND"
    state: str | None
    closed_at: str | None = None
    """When the execution closed (ISO 8601), if it has."""
    user_id: str | None = None
    """The payment's user, from the execution's memo (read by ``list_undecided_executions``)."""


@dataclass(frozen=True)
class RepairRequest:
    """One repair of the reconciler, with the reason it is journaled under."""

    payment_id: str
    kind: str  # "refund" (the ledger's debit) | "void" | "refund_charge" (at the provider)
    reason: str
    execution: str = ""
    """The execution's status when the repair was planned (``TERMINATED``, ``COMPLETED``...)."""


@dataclass(frozen=True)
class RepairResult:
    """Whether the repair took effect now (false: already done, or nothing to do)."""

    payment_id: str
    kind: str
    done: bool


@dataclass(frozen=True)
class ReconcileRequest:
    """Input of ReconcileWorkflow: ``dry_run`` plans without repairing."""

    dry_run: bool = False
    grace_s: float = 0.0
    """Ledger debits younger than this are left alone (their saga may still be starting)."""
    late_charge_horizon_s: float = 600.0
    """How long after a payment's execution closed without succeeding, its charge never seen
    by the provider, an unanswered attempt may still land (the provider's own bound on late
    processing): until then the payment stays unsettled (``late-charges``)."""


@dataclass(frozen=True)
class ReconcileReport:
    """What the reconciler found and (unless a dry run) repaired."""

    planned: list[RepairRequest] = field(default_factory=list)
    repaired: list[RepairResult] = field(default_factory=list)
    review: list[str] = field(default_factory=list)
    """Captured charges of payments that did not succeed: only a person can settle them."""
    settling: list[str] = field(default_factory=list)
    """Payments whose execution closed too recently to repair: the next pass looks again."""
    examined: int = 0
    """Payments this pass read (unsettled ones; 0 on passes before ``settled-payments``)."""
    settled: list[str] = field(default_factory=list)
    """Payments this pass settled: later passes skip them (none in a dry run)."""
    dry_run: bool = False
    failed: list[str] = field(default_factory=list)
    """Payments whose repair failed this pass (the others were still repaired and settled;
    the next pass tries again)."""
    described_at: str | None = None
    """When the executions were described; the money was read after it (``careful-pass``)."""
    notified: list[str] = field(default_factory=list)
    """Payments whose execution ended undecided (terminated, timed out) that this pass settled
    and sent their notice, which no saga would."""
    late_charges: list[str] = field(default_factory=list)
    """Payments whose saga completed without succeeding and whose charge the provider holds
    (it landed after the worker gave up on it): voided, or refunded at the provider."""
    watching: list[str] = field(default_factory=list)
    """Payments kept unsettled because a charge attempt of theirs may still land
    (:attr:`ReconcileRequest.late_charge_horizon_s`)."""
