"""The workload of a scenario: payments at a rate, cancels, invalid requests, forged callbacks.

Every random choice comes from one ``random.Random(seed)``, drawn in a fixed order before
anything is sent, so the same seed sends the same payments.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from dataclasses import dataclass, field
from typing import Any, get_args

import httpx

from chaos.scenario.format import AmountRange, Scenario
from chaos.scenario.types import Step
from orchestrator import signing
from orchestrator.models import PaymentState

TERMINAL = {s.value for s in PaymentState if s.terminal}
#: The saga's forward steps in order (``PaymentStatus.step``); a cancel planned at one of them is
#: sent at the first poll that finds the payment there or at a later forward step, so a step
#: shorter than one poll is not skipped silently.
FORWARD_STEPS: tuple[str, ...] = get_args(Step)
PAYMENT_ENDED_FIRST = "the payment left the forward path first"


@dataclass
class PlannedPayment:
    """One payment the workload will send."""

    index: int
    user: str
    amount: int
    method: str
    send_at_s: float
    cancel_at: str | None
    """The saga step at which to cancel (``"after"``: after a delay), or None."""


@dataclass
class PaymentRecord:
    """What happened to one payment."""

    index: int
    user: str
    amount: int
    method: str
    idempotency_key: str
    payment_id: str | None = None
    created_at_s: float | None = None
    create_attempts: int = 0
    create_error: str | None = None
    cancel_at: str | None = None
    cancel_sent: bool = False
    cancel_step: str | None = None
    """The step the payment was at when the cancel was sent (at or after ``cancel_at``)."""
    cancel_missed: str | None = None
    """Why a planned cancel was not sent (the payment ended first, or the API refused it)."""
    terminated: bool = False
    """A workflow fault terminated its execution: only the reconciler can settle it."""
    deleted: bool = False
    """A workflow fault deleted its finished execution (``status`` is what the API showed
    before)."""
    resubmitted: dict[str, Any] | None = None
    """After the delete: the API's answer to the client's retry of its POST with the same key
    (``status_code``, ``payment_id``, ``created``)."""
    status: dict[str, Any] = field(default_factory=dict)

    @property
    def state(self) -> str:
        """Last known state (``unsent`` if the payment was never created)."""
        return str(self.status.get("state", "unsent" if self.payment_id is None else "pending"))

    @property
    def done(self) -> bool:
        """Terminal and notified, or terminated (it will never change again)."""
        return self.terminated or (self.state in TERMINAL and self.status.get("step") == "done")


@dataclass
class ProbeResult:
    """A request that had to be refused (invalid request or forged callback)."""

    kind: str
    status_code: int
    problem_json: bool


def plan(scenario: Scenario, users: dict[str, str]) -> list[PlannedPayment]:
    """Draw every payment of the workload up front; ``users`` maps spec name to ledger user."""
    rng = random.Random(scenario.seed)
    workload = scenario.workload
    specs = {u.name: u for u in workload.users}
    planned = []
    for i in range(workload.payments):
        spec = specs[rng.choice(sorted(specs))]
        allowed = [m for m in workload.methods if spec.methods is None or m in spec.methods]
        method = rng.choice(allowed or workload.methods)
        amount = workload.amount
        value = rng.randint(amount.min, amount.max) if isinstance(amount, AmountRange) else amount
        cancel_at = None
        cancels = workload.cancels
        if cancels is not None and rng.random() < cancels.share:
            cancel_at = rng.choice(cancels.at_steps) if cancels.at_steps else "after"
        at = i / workload.rate_per_s if workload.rate_per_s else 0.0
        planned.append(PlannedPayment(i, users[spec.name], value, method, at, cancel_at))
    return planned


class WorkloadDriver:
    """Sends the planned payments through the API and follows them to the end."""

    def __init__(
        self, scenario: Scenario, api_url: str, keys: dict[str, str], run_id: str, secret: str
    ) -> None:
        self.scenario = scenario
        self.api_url = api_url
        self.keys = keys
        self.run_id = run_id
        self.secret = secret
        self.records: list[PaymentRecord] = []
        self.probes: list[ProbeResult] = []
        self.http = httpx.AsyncClient(base_url=api_url, timeout=httpx.Timeout(30.0))

    async def close(self) -> None:
        """Release the HTTP client."""
        await self.http.aclose()

    def _auth(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[user]}"}

    async def run(self, planned: list[PlannedPayment], started: float) -> None:
        """Send everything at its planned time; returns when every request was answered."""
        tasks = []
        for item in planned:
            record = PaymentRecord(
                item.index,
                item.user,
                item.amount,
                item.method,
                f"{self.run_id}-{item.index}",
                cancel_at=item.cancel_at,
            )
            self.records.append(record)
            delay = started + item.send_at_s - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(self._create(record, started)))
        tasks.append(asyncio.create_task(self._invalid_requests()))
        tasks.append(asyncio.create_task(self._forged_callbacks()))
        await asyncio.gather(*tasks)

    def _creation(self, record: PaymentRecord) -> tuple[dict[str, Any], dict[str, str]]:
        """The body and headers of a payment's ``POST /payments`` (every retry sends the same)."""
        body = {"user_id": record.user, "amount": record.amount, "payment_method": record.method}
        return body, {**self._auth(record.user), "Idempotency-Key": record.idempotency_key}

    async def resubmit(self, record: PaymentRecord) -> None:
        """The client's retry of a payment's POST with its key, as after an answer it lost;
        what the API answered is kept on the record."""
        body, headers = self._creation(record)
        response = await self.http.post("/payments", json=body, headers=headers)
        try:
            answer = dict(response.json())
        except ValueError:
            answer = {}
        record.resubmitted = {
            "status_code": response.status_code,
            "payment_id": answer.get("payment_id"),
            "created": answer.get("created"),
        }

    async def _create(self, record: PaymentRecord, started: float) -> None:
        body, headers = self._creation(record)
        deadline = time.monotonic() + self.scenario.expect.deadline_s
        # A well-behaved client: retry with the same key on 503 and transport errors.
        while True:
            record.create_attempts += 1
            try:
                response = await self.http.post("/payments", json=body, headers=headers)
            except httpx.HTTPError as exc:
                record.create_error = repr(exc)
                retry_after = 1.0
            else:
                if response.status_code == 202:
                    record.payment_id = response.json()["payment_id"]
                    record.created_at_s = time.monotonic() - started
                    record.create_error = None
                    break
                record.create_error = f"HTTP {response.status_code}: {response.text[:200]}"
                if response.status_code != 503:
                    return
                retry_after = float(response.headers.get("retry-after", "1"))
            if time.monotonic() > deadline:
                return
            await asyncio.sleep(min(retry_after, 2.0))
        if record.cancel_at:
            await self._cancel(record)

    async def _cancel(self, record: PaymentRecord) -> None:
        cancels = self.scenario.workload.cancels
        assert cancels is not None and record.payment_id and record.cancel_at
        if cancels.after_s is not None:
            await asyncio.sleep(cancels.after_s)
        else:
            wanted = FORWARD_STEPS.index(record.cancel_at)
            deadline = time.monotonic() + self.scenario.expect.deadline_s
            while True:
                status = await self._fresh_status(record)
                step = str(status.get("step", ""))
                if step in FORWARD_STEPS and FORWARD_STEPS.index(step) >= wanted:
                    record.cancel_step = step
                    break
                if status.get("state") in TERMINAL or step in ("compensate", "notify", "done"):
                    record.cancel_missed = f"{PAYMENT_ENDED_FIRST} (at {step})"
                    return
                if time.monotonic() > deadline:
                    record.cancel_missed = f"still at {step or 'unknown'} at the deadline"
                    return
                await asyncio.sleep(0.05)
        response = await self.http.post(
            f"/payments/{record.payment_id}/cancel", headers=self._auth(record.user)
        )
        record.cancel_sent = response.status_code == 202
        if not record.cancel_sent:
            record.cancel_missed = f"HTTP {response.status_code}: {response.text[:120]}"

    async def _fresh_status(self, record: PaymentRecord) -> dict[str, Any]:
        """The payment's status now, or ``{}`` if the API did not answer with one."""
        try:
            response = await self.http.get(
                f"/payments/{record.payment_id}", headers=self._auth(record.user)
            )
        except httpx.HTTPError:
            return {}
        return dict(response.json()) if response.status_code == 200 else {}

    async def refresh(self, timeout_s: float) -> bool:
        """Refresh every unfinished payment's status; False if the API did not answer them all
        within ``timeout_s`` (the records keep their last known status)."""
        pending = [r for r in self.records if not r.done and r.payment_id]
        try:
            fresh = await asyncio.wait_for(
                asyncio.gather(*(self._fresh_status(r) for r in pending)), timeout_s
            )
        except TimeoutError:
            return False
        for record, status in zip(pending, fresh, strict=True):
            if status:
                record.status = status
        return all(fresh)

    async def status(self, record: PaymentRecord) -> dict[str, Any]:
        """Refresh one payment's status from the API (kept on the record)."""
        if record.payment_id is None or record.done:
            return record.status
        if fresh := await self._fresh_status(record):
            record.status = fresh
        return record.status

    async def _invalid_requests(self) -> None:
        user = self.records[0].user if self.records else next(iter(self.keys))
        other = next((u for u in self.keys if u != user), user)
        good = {"user_id": user, "amount": 100, "payment_method": "card"}
        variants: list[tuple[str, dict[str, Any], dict[str, str]]] = [
            ("negative_amount", {**good, "amount": -5}, self._auth(user)),
            ("unknown_method", {**good, "payment_method": "cheque"}, self._auth(user)),
            ("unknown_field", {**good, "amout": 100}, self._auth(user)),
            ("missing_idempotency_key", good, {**self._auth(user), "Idempotency-Key": ""}),
            ("no_api_key", good, {}),
            ("someone_elses_account", good, self._auth(other)),
            ("bad_currency", {**good, "currency": "dollars"}, self._auth(user)),
        ]
        for i in range(self.scenario.workload.invalid_requests):
            kind, body, headers = variants[i % len(variants)]
            if kind != "missing_idempotency_key":
                headers = {**headers, "Idempotency-Key": f"{self.run_id}-invalid-{i}"}
            if kind == "someone_elses_account" and other == user:
                kind, headers = "no_api_key", {"Idempotency-Key": f"{self.run_id}-invalid-{i}"}
            response = await self.http.post("/payments", json=body, headers=headers)
            self.probes.append(
                ProbeResult(
                    f"invalid:{kind}",
                    response.status_code,
                    response.headers.get("content-type", "").startswith("application/problem+json"),
                )
            )

    async def _forged_callbacks(self) -> None:
        count = self.scenario.workload.forged_callbacks
        if not count:
            return
        await asyncio.sleep(0.5)  # let some payments exist
        targets = [r for r in self.records if r.payment_id] or self.records
        for i in range(count):
            target = targets[i % len(targets)] if targets else None
            body = json.dumps(
                {
                    "event_id": f"evt_forged_{self.run_id}_{i}",
                    "type": "charge.declined",
                    "payment_id": target.payment_id if target else "pay_unknown",
                    "charge_id": "ch_forged",
                    "status": "declined",
                }
            ).encode()
            secret = "not-the-secret" if i % 2 == 0 else self.secret[::-1]
            header = signing.sign(secret, body)
            if i % 3 == 2:
                header = signing.sign(self.secret, body, timestamp=int(time.time()) - 3600)
            response = await self.http.post(
                "/webhooks/gateway",
                content=body,
                headers={signing.SIGNATURE_HEADER: header, "content-type": "application/json"},
            )
            self.probes.append(
                ProbeResult(
                    "forged_callback",
                    response.status_code,
                    response.headers.get("content-type", "").startswith("application/problem+json"),
                )
            )
