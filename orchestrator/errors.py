"""The saga's errors, under the project's root ``SagaError`` (the runtime's own errors,
``StackError`` and ``ApiClientError``, live in ``runtime.errors`` and derive from it too)."""


class SagaError(Exception):
    """Root of every error raised on purpose by this package."""


class ConfigError(SagaError):
    """A config file is missing, unreadable or fails validation."""


class LedgerError(SagaError):
    """The account ledger refused an operation."""


class AccountNotFound(LedgerError):
    """No account exists for the user."""


class InsufficientFunds(LedgerError):
    """The account balance does not cover the amount."""


class InvalidAmount(LedgerError):
    """A movement of zero or less was asked for."""


class VelocityLimitExceeded(LedgerError):
    """The user already has as many debits in the window as the limit allows."""


class PaymentInvalid(LedgerError):
    """The payment fails a validation check (``reason``, a :class:`orchestrator.models.Reason`
    value); raised by a debit that validates, before anything moves."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


class PaymentCompensated(LedgerError):
    """The payment was refunded (or its refund ran first): it can never be debited again."""


class PaymentSettled(LedgerError):
    """The reconciler settled this payment long ago: its money never moves again. A saga that
    meets this runs under a payment id reused after its execution was deleted (retention)."""


class TemporalUnreachable(SagaError):
    """Temporal cannot be reached, or refused a set-up call (a namespace, a search attribute)."""
