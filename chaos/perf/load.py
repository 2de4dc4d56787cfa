"""``saga load``: k6 through the API while a scenario's knobs and faults are applied.

The run: apply the scenario's settings and knobs (if any), open funded load users and one user
who can afford nothing (the decline path), then run ``k6/payments.js`` and the scenario's fault
timeline side by side, roll every fault back, wait for every payment k6 created to end, and
check the ledger invariants over exactly those payments.
"""

from __future__ import annotations

import asyncio
import json
import math
import secrets
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from chaos.errors import ScenarioError
from chaos.nemesis.base import FaultRecord
from chaos.perf.k6 import InCompose, K6Result, run_k6
from chaos.perf.percentiles import percentile
from chaos.run.runner import ScenarioRunner
from chaos.run.timeline import FaultInjector
from chaos.scenario.format import Scenario
from chaos.verdicts.panels import (
    LOAD_DASHBOARDS,
    LOAD_DASHBOARDS_WITHOUT_FAULTS,
    PanelData,
    capture,
)
from orchestrator.api.service import payment_id_for
from orchestrator.models import PaymentState
from orchestrator.temporal_client import connect
from orchestrator.workflows.payment import PAYMENT_STATUS
from runtime.audit import AuditReport, ledger_check
from runtime.compose import ComposeStack
from runtime.prometheus import SCRAPE_INTERVAL_S
from runtime.stack_view import RunningStack

K6_DIR = Path(__file__).resolve().parents[2] / "k6"
PAYMENTS_SCRIPT = K6_DIR / "payments.js"
LOAD_USER_BALANCE = 10**12


@dataclass(frozen=True)
class LoadOptions:
    """What ``saga load`` sends."""

    rate: float = 10.0
    duration: str = "30s"
    executor: Literal["constant", "ramping"] = "constant"
    scenario: Scenario | None = None
    mix: dict[str, float] = field(
        default_factory=lambda: {"success": 0.8, "decline": 0.1, "cancel": 0.1}
    )
    poll_timeout_s: float = 60.0
    wait_s: int = 0
    """k6 waits for each saga with ``GET /payments/{id}?wait=`` of this many seconds; 0 polls
    ``GET /payments/{id}/state``, then reads the full view once."""
    api_p95_ms: float = 1000.0
    script: Path = PAYMENTS_SCRIPT
    panels: bool = False
    """Capture the dashboards' panels, the k6 one included, over the run (``--report``)."""


@dataclass
class LoadReport:
    """A finished load run: k6's result, what happened to each payment, the ledger check."""

    testid: str
    k6: K6Result
    final_states: dict[str, str]
    saga_durations_s: list[float]
    """Start to close of every saga, from Temporal (k6's own figure includes polling)."""
    window_s: float
    """From the first saga's start to the last one's close."""
    audit: AuditReport
    faults: list[FaultRecord] = field(default_factory=list)
    unfinished: list[str] = field(default_factory=list)
    duration_s: float = 0.0
    window: tuple[float, float] | None = None
    """When k6 started and the last payment ended (Unix seconds)."""
    panels: list[PanelData] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """k6's thresholds held, every payment ended, the invariants held, every fault applied."""
        return (
            self.k6.thresholds_ok
            and self.audit.ok
            and not self.unfinished
            and not any(f.error for f in self.faults)
        )

    def states(self) -> Counter[str]:
        """Payments by final state."""
        return Counter(self.final_states.values())


def expected_success_states(scenario: Scenario | None) -> list[str]:
    """States a normal payment may end in: the scenario's allowed states, else ``succeeded``.

    A scenario without state expectations (say, one that expects every callback to time out)
    allows any terminal state; k6 then checks only that payments finish.
    """
    if scenario is None:
        return ["succeeded"]
    if not scenario.expect.states:
        return [s.value for s in PaymentState if s.terminal]
    return [
        state
        for state, count in scenario.expect.states.items()
        if (count.max is None or count.max > 0) and (count.max_share is None or count.max_share > 0)
    ]


class LoadTest:
    """Runs k6 against one started stack."""

    def __init__(self, stack: RunningStack, progress: Callable[[str], None] | None = None) -> None:
        self.stack = stack
        self.progress = progress or (lambda line: None)

    def run(self, options: LoadOptions) -> LoadReport:
        """Run the load; returns the report (never raises for a failed threshold or invariant).

        Raises :class:`ScenarioError` for a scenario with ``workflow`` faults: they aim at the
        scenario's own payments, and k6 sends others.
        """
        scenario = options.scenario
        if scenario is not None and (refused := scenario.refusals("load")):
            raise ScenarioError(f"{scenario.name}: {'; '.join(refused)}")
        return asyncio.run(self._run(options))

    def _users(self, options: LoadOptions, testid: str) -> tuple[list[str], str]:
        config = self.stack.config
        assert config is not None
        # Keep each user well under the velocity limit (payments per user per window).
        window_payments = options.rate * config.saga.velocity_window_s
        count = max(4, math.ceil(window_payments / (config.saga.velocity_max_payments / 2)))
        users = [f"{testid}-u{i}" for i in range(count)]
        for user in users:
            self.stack.add_account(config, user, LOAD_USER_BALANCE)
        poor = f"{testid}-poor"
        self.stack.add_account(config, poor, 1)
        return users, poor

    async def _run(self, options: LoadOptions) -> LoadReport:
        config = self.stack.config
        assert config is not None
        testid = f"load-{secrets.token_hex(3)}"
        scenario = options.scenario
        if scenario is not None:
            await asyncio.to_thread(ScenarioRunner(self.stack).prepare, scenario, testid)
        users, poor = await asyncio.to_thread(self._users, options, testid)
        env = {
            "API_URL": config.api_url,
            "API_KEYS": json.dumps({u: self.stack.api_keys[u] for u in [*users, poor]}),
            "USERS": ",".join(users),
            "POOR_USER": poor,
            "RATE": f"{options.rate:g}",
            "DURATION": options.duration,
            "EXECUTOR": options.executor,
            "TESTID": testid,
            "MIX": json.dumps(options.mix),
            "EXPECTED_SUCCESS": ",".join(expected_success_states(scenario)),
            "POLL_TIMEOUT_S": f"{options.poll_timeout_s:g}",
            "WAIT_S": str(options.wait_s),
            "API_P95_MS": f"{options.api_p95_ms:g}",
        }
        faults = FaultInjector(self.stack, scenario) if scenario else None

        def on_line(line: str) -> None:
            active = "; ".join(faults.active_descriptions) if faults else ""
            self.progress(f"  {line}" + (f"  | faults: {active}" if active else ""))

        self.progress(
            f"k6 {options.executor} at {options.rate:g}/s for {options.duration} ({testid})"
        )
        started, wall_started = time.monotonic(), time.time()
        stack = self.stack
        k6_run = asyncio.to_thread(
            run_k6,
            options.script,
            env,
            Path(stack.state_dir) / "load" / testid,
            prometheus_url=stack.prometheus_url,
            on_line=on_line,
            # On a compose deployment, k6 runs in its network, as the deployment's clients do.
            compose=InCompose(stack.commands, stack.project_dir)
            if isinstance(stack, ComposeStack)
            else None,
        )
        try:
            if faults is not None:
                result, _ = await asyncio.gather(k6_run, faults.run_timeline(started))
            else:
                result = await k6_run
        finally:
            if faults is not None:
                for line in await asyncio.to_thread(faults.rollback, started):
                    self.progress(f"  rollback: {line}")
        self.progress(f"k6 exited {result.exit_code}; waiting for every payment to end ...")
        ends, unfinished = await self._final_states(result)
        states = {payment_id: end.state for payment_id, end in ends.items()}
        report = LoadReport(
            testid,
            result,
            states,
            [end.duration_s for end in ends.values()],
            _window(ends.values()),
            await asyncio.to_thread(self._audit, states),
            faults.records if faults else [],
            unfinished,
        )
        report.duration_s = round(time.monotonic() - started, 1)
        report.window = (wall_started, time.time())
        if options.panels and self.stack.prometheus_url:
            await asyncio.sleep(SCRAPE_INTERVAL_S)  # the last scrape of the window
            faulted = options.scenario is not None and bool(options.scenario.faults)
            dashboards = LOAD_DASHBOARDS if faulted else LOAD_DASHBOARDS_WITHOUT_FAULTS
            report.panels = await asyncio.to_thread(
                capture, self.stack.prometheus_url, wall_started, time.time(), dashboards
            )
        return report

    async def _final_states(
        self, result: K6Result, timeout_s: float = 120.0
    ) -> tuple[dict[str, SagaEnd], list[str]]:
        """Every saga k6 started (including ones whose response was lost), once closed."""
        config = self.stack.config
        assert config is not None
        ids = {
            r.get("payment_id")
            or payment_id_for(config.payment_id_secret, str(r["user"]), str(r["key"]))
            for r in result.console
            if r.get("key") and r.get("user")
        }
        ends: dict[str, SagaEnd] = {}
        pending = set(ids)
        client = await connect(config)
        deadline = time.monotonic() + timeout_s
        while pending and time.monotonic() < deadline:
            found = await saga_ends(client, sorted(pending))
            ends |= {i: end for i, end in found.items() if end is not None}
            pending = {i for i in pending if i not in found or found[i] is not None} - set(ends)
            if pending:
                await asyncio.sleep(1.0)
        return ends, sorted(pending)

    def _audit(self, final_states: dict[str, str]) -> AuditReport:
        config = self.stack.config
        assert config is not None
        return ledger_check(config, final_states)


@dataclass(frozen=True)
class SagaEnd:
    """How a saga ended, from Temporal: its final ``PaymentStatus``, start and close times."""

    state: str
    started_at: float
    closed_at: float

    @property
    def duration_s(self) -> float:
        """Start to close."""
        return self.closed_at - self.started_at


async def saga_ends(client: Client, ids: list[str]) -> dict[str, SagaEnd | None]:
    """``id -> SagaEnd`` for closed sagas; running ones are left out; never started ones map to
    None. Reads the server only (describe), never a worker."""
    limit = asyncio.Semaphore(16)
    ends: dict[str, SagaEnd | None] = {}

    async def one(payment_id: str) -> None:
        async with limit:
            try:
                description = await client.get_workflow_handle(payment_id).describe()
            except RPCError as exc:
                if exc.status is not RPCStatusCode.NOT_FOUND:
                    raise
                ends[payment_id] = None
                return
        if description.close_time is None:
            return
        state = description.typed_search_attributes.get(PAYMENT_STATUS) or "unknown"
        ends[payment_id] = SagaEnd(
            state, description.start_time.timestamp(), description.close_time.timestamp()
        )

    await asyncio.gather(*(one(i) for i in ids))
    return ends


def _window(ends: Iterable[SagaEnd]) -> float:
    ends = list(ends)
    if not ends:
        return 0.0
    return max(e.closed_at for e in ends) - min(e.started_at for e in ends)


def summary_rows(report: LoadReport) -> list[list[str]]:
    """The short summary ``saga load`` prints."""
    k6 = report.k6

    def ms(metric: str, stat: str) -> str:
        value = k6.metric(metric, stat)
        return f"{value:.0f} ms" if value is not None else "-"

    def pct(value: float | None) -> str:
        return f"{value:.1%}" if value is not None else "-"

    states = ", ".join(f"{state} {n}" for state, n in sorted(report.states().items()))
    rows = [
        ["figure", "value"],
        ["payments created", f"{k6.metric('saga_payments_created', 'count') or 0:.0f}"],
        ["final states", states or "-"],
        ["expected outcome", pct(k6.metric("saga_expected_outcome", "rate"))],
        [
            "saga p50 / p95 / p99 (Temporal start to close)",
            " / ".join(
                f"{percentile(report.saga_durations_s, p) * 1000:.0f} ms" for p in (50, 95, 99)
            ),
        ],
        [
            "as k6 saw it p50 / p95 / p99 (with polling)",
            " / ".join(ms("saga_e2e_duration", s) for s in ("med", "p(95)", "p(99)")),
        ],
        [
            "API create p50 / p95 / p99",
            " / ".join(ms("http_req_duration{api:create}", s) for s in ("med", "p(95)", "p(99)")),
        ],
        [
            "API state p95 / full status p95",
            f"{ms('http_req_duration{api:state}', 'p(95)')} / "
            f"{ms('http_req_duration{api:status}', 'p(95)')}",
        ],
        ["HTTP requests", f"{k6.metric('http_reqs', 'count') or 0:.0f}"],
        ["HTTP failed", pct(k6.metric("http_req_failed", "rate"))],
        ["dropped iterations", f"{k6.metric('dropped_iterations', 'count') or 0:.0f}"],
        ["unfinished payments", str(len(report.unfinished))],
        ["invariants", report.audit.summary().splitlines()[0]],
        ["wall time", f"{report.duration_s:.1f} s"],
    ]
    rows += [
        ["fault", f"{f.description}: {f.error or 'applied and reverted'}"] for f in report.faults
    ]
    rows += [
        [f"threshold {metric}", f"{expr}: {'ok' if ok else 'FAILED'}"]
        for metric, expr, ok in k6.thresholds()
    ]
    return rows


def load_journal(report: LoadReport, options: LoadOptions, run: dict[str, Any]) -> dict[str, Any]:
    """The load run as a journal (one entry, shaped like a scenario's), for the HTML report:
    k6's thresholds, the ledger audit and every payment's end as verdicts, the faults, and
    the panels."""
    verdicts = [
        {"name": f"k6 threshold {metric}", "expected": expr, "observed": "", "passed": ok}
        for metric, expr, ok in report.k6.thresholds()
    ]
    verdicts.append(
        {
            "name": "money invariants (ledger audit)",
            "expected": "hold",
            "observed": report.audit.summary(),
            "passed": report.audit.ok,
        }
    )
    verdicts.append(
        {
            "name": "every payment ended",
            "expected": "all",
            "observed": f"{len(report.unfinished)} not terminal",
            "passed": not report.unfinished,
        }
    )
    audit = [
        {"subject": "ledger + provider", "expected": "every invariant", "found": problem}
        for problem in report.audit.problems
    ]
    scenario = options.scenario
    return {
        "passed": report.passed,
        "run": run,
        "scenarios": [
            {
                "scenario": f"load {report.testid}",
                "description": f"k6 {options.executor} at {options.rate:g}/s for"
                f" {options.duration}" + (f" under {scenario.name}" if scenario else ""),
                "passed": report.passed,
                "duration_s": report.duration_s,
                "error": None,
                "faults": [asdict(f) for f in report.faults],
                "payments": [],
                "samples": [],
                "checks": [{"name": "ledger audit", "counterexamples": audit}],
                "verdicts": verdicts,
                "summary": summary_rows(report),
                "window": list(report.window) if report.window else None,
                "panels": [asdict(p) for p in report.panels],
            }
        ],
    }
