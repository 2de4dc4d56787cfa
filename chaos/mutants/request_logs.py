"""Request-log mutants: the API's real :class:`~orchestrator.api.request_log.RequestLog` with its
one rule undone, for the saga mutants that attack the API's idempotency (see
``chaos.mutants.sagas``). The virtual world runs them; the real stack's API takes no mutant."""

from __future__ import annotations

from orchestrator.api.request_log import RecordedRequest, RequestLog


class ForgetfulRequestLog(RequestLog):
    """Never remembers that a payment's saga was started: a key retried once Temporal forgot
    the execution starts a second saga under the same payment id (the API before its log)."""

    def claim(self, payment_id: str, user_id: str, fingerprint: str) -> RecordedRequest:
        """As the log's, with ``started`` forgotten."""
        recorded = super().claim(payment_id, user_id, fingerprint)
        return RecordedRequest(recorded.user_id, recorded.fingerprint, started=False)
