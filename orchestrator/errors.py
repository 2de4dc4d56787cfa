"""The project's error tree: the root, the saga's errors, and the runtime's (``StackError``,
``ApiClientError``), which the layers above raise and catch by these names."""


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


class StackError(SagaError):
    """An embedded-stack process failed to start or to become ready."""


class ApiClientError(SagaError):
    """The API answered a CLI call with an error."""

    def __init__(self, status: int, problem: dict[str, object]) -> None:
        self.status = status
        self.problem = problem
        detail = problem.get("detail") or problem.get("title") or "error"
        errors = problem.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            # The field the API named (``amount: Expected int >= 1``), not only the message.
            first = errors[0]
            detail = f"{first.get('key', 'body')}: {first.get('message', detail)}"
        super().__init__(f"HTTP {status}: {detail}")
