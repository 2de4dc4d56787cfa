"""The runtime's errors: a stack that cannot start, and the API answering the CLI with an error.

Both derive from the project's root ``orchestrator.errors.SagaError``, which the ``saga`` CLI
turns into a one-line message instead of a traceback.
"""

from __future__ import annotations

from orchestrator.errors import SagaError


class StackError(SagaError):
    """An embedded-stack process failed to start or to become ready, or a binary is missing."""


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
