"""ScenarioRunner: one scenario against one stack, through the whole lifecycle.

prepare (settings, knobs, users) -> steady state -> method (workload || fault timeline) ->
rollback (always) -> wait for every payment to end -> evidence -> verdicts.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import msgspec

from chaos.errors import ScenarioError
from chaos.nemesis.base import FaultRecord
from chaos.run.metrics import CHAOS_SCENARIO_RUNNING
from chaos.run.steady_state import check_steady_state, steady_state
from chaos.run.timeline import FaultInjector
from chaos.run.workload import PaymentRecord, WorkloadDriver, plan
from chaos.scenario.format import Scenario
from chaos.verdicts.bundle import collect_bundle
from chaos.verdicts.checkers import check_all
from chaos.verdicts.evidence import (
    Evidence,
    charges_by_payment,
    duplicate_callbacks_delivered,
    foreign_callbacks_delivered,
    history_steps,
    late_callbacks_ignored,
    version_facts,
)
from chaos.verdicts.expect import Verdict, evaluate
from chaos.verdicts.panels import PanelData, capture
from orchestrator.ledger import DB_ERRORS, Ledger
from orchestrator.models import ReconcileReport
from orchestrator.reconcile import reconcile_now, successive
from orchestrator.temporal_client import connect
from orchestrator.workflows.reconcile import SETTLE_AFTER_CLOSE
from runtime.admin_client import patch_knobs
from runtime.prometheus import SCRAPE_INTERVAL_S
from runtime.stack_view import RunningStack

SAMPLE_ERRORS: tuple[type[Exception], ...] = (TimeoutError, *DB_ERRORS)
"""A ledger sample that timed out or that the database refused: a gap, not a failure."""

SAMPLE_EVERY_S = 0.5
#: How long one source may take to answer a sample before the sample marks it missing.
SAMPLE_TIMEOUT_S = 2.0
#: How long an activity attempt of a terminated execution may still run and commit; the
#: reconciler leaves an execution closed more recently alone.
SETTLE_S = SETTLE_AFTER_CLOSE.total_seconds() + 1


@dataclass
class ScenarioResult:
    """Everything a run produced; ``passed`` only when every verdict held and nothing broke."""

    scenario: Scenario
    run_id: str
    started_at: str
    duration_s: float = 0.0
    steady_state: list[str] = field(default_factory=list)
    """What the steady-state check before the run verified (it refuses the run otherwise)."""
    steady_state_after: list[str] = field(default_factory=list)
    """What is still wrong after the rollback (empty: the system came back)."""
    payments: list[PaymentRecord] = field(default_factory=list)
    faults: list[FaultRecord] = field(default_factory=list)
    samples: list[dict[str, Any]] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)
    rollback: list[str] = field(default_factory=list)
    evidence: Evidence | None = None
    error: str | None = None
    window: tuple[float, float] | None = None
    """When the workload started and the run ended (Unix seconds): the report's panel window."""
    panels: list[PanelData] = field(default_factory=list)
    """The dashboards' panels over that window, when asked for and Prometheus runs."""

    @property
    def passed(self) -> bool:
        """Whether the saga held."""
        return self.error is None and bool(self.verdicts) and all(v.passed for v in self.verdicts)


class ScenarioRunner:
    """Runs scenarios one after another on one stack."""

    def __init__(
        self,
        stack: RunningStack,
        progress: Callable[[str], None] | None = None,
        *,
        panels: bool = False,
    ) -> None:
        self.stack = stack
        self.progress = progress or (lambda line: None)
        self.panels = panels
        """Capture the dashboards' panels over each run's window (for the HTML report)."""
        self._faults: list[FaultRecord] = []

    def run(self, scenario: Scenario, seed: int | None = None) -> ScenarioResult:
        """Run one scenario; never raises for a failed expectation, only records it."""
        if seed is not None:
            scenario = msgspec.structs.replace(scenario, seed=seed)
        result = ScenarioResult(
            scenario, secrets.token_hex(3), datetime.now(UTC).isoformat(timespec="seconds")
        )
        began = time.monotonic()
        try:
            asyncio.run(self._run(scenario, result))
        except Exception as exc:
            result.error = f"{type(exc).__name__}: {exc}"
        result.duration_s = round(time.monotonic() - began, 2)
        return result

    # -- lifecycle -------------------------------------------------------------------------

    def prepare(self, scenario: Scenario, run_id: str) -> dict[str, str]:
        """Apply a scenario's saga settings, build and knobs, and open its users."""
        config = self.stack.config
        assert config is not None
        options = scenario.settings.saga_options()
        if config.saga != options:
            self.stack.apply_saga(options)
        if self.stack.build != scenario.build:
            # Forced: the harness rehearses an older build on purpose, between scenarios whose
            # payments have all finished (a leftover one would fail its own scenario).
            self.stack.deploy(scenario.build, drain_s=1.0, force=True)

        admin = config.admin_urls
        for url, knobs in (
            (admin.provider, scenario.simulators.provider),
            (admin.fraud, scenario.simulators.fraud),
            (admin.notify, scenario.simulators.notifications),
        ):
            patch_knobs(url, **msgspec.to_builtins(knobs))
        users = {}
        for spec in scenario.workload.users:
            user = f"{spec.name}-{run_id}"
            methods = tuple(spec.methods) if spec.methods else None
            self.stack.add_account(config, user, spec.balance, active=spec.active, methods=methods)
            users[spec.name] = user
        return users

    def missing_parts(self, scenario: Scenario) -> list[str]:
        """What the scenario's faults name that this stack does not run (a process, a link)."""
        links = set(self.stack.links.state()) if self.stack.links is not None else set()
        return scenario.missing(lambda p: p in self.stack.processes, lambda k: k in links)

    async def _run(self, scenario: Scenario, result: ScenarioResult) -> None:
        config = self.stack.config
        assert config is not None
        missing = await asyncio.to_thread(self.missing_parts, scenario)
        if missing:
            backends = " or ".join(scenario.backends) or "no"
            raise ScenarioError(
                f"{scenario.name} breaks what this stack does not run ({'; '.join(missing)});"
                f" it runs on the {backends} backend"
            )
        users = await asyncio.to_thread(self.prepare, scenario, result.run_id)
        result.steady_state = await asyncio.to_thread(check_steady_state, self.stack)
        driver = WorkloadDriver(
            scenario, config.api_url, self.stack.api_keys, result.run_id, config.webhook_secret
        )
        faults = FaultInjector(self.stack, scenario, driver.records, driver)
        result.payments, result.faults = driver.records, faults.records
        self._faults = faults.records
        if self.panels and self.stack.prometheus_url:
            # One scrape before the workload, so every series exported at 0 has a value to
            # rise from: a burst shorter than a scrape would otherwise chart as nothing.
            await asyncio.sleep(SCRAPE_INTERVAL_S)
        started, wall_started = time.monotonic(), time.time()
        stop_sampling = asyncio.Event()
        sampler = asyncio.create_task(self._sample(driver, faults, result, started, stop_sampling))
        running = CHAOS_SCENARIO_RUNNING.labels(scenario.name)
        running.set(1)
        try:
            await asyncio.gather(
                driver.run(plan(scenario, users), started), faults.run_timeline(started)
            )
        finally:
            running.set(0)
            result.rollback = await asyncio.to_thread(faults.rollback, started)
        try:
            await self._wait_until_done(driver, scenario, started)
        finally:
            # An event, not only a cancel: Python 3.11's wait_for can swallow a cancellation
            # that lands as its inner call completes, and the sampler would then run forever.
            stop_sampling.set()
            try:
                await asyncio.wait_for(asyncio.shield(sampler), 3 * SAMPLE_TIMEOUT_S)
            except TimeoutError:
                sampler.cancel()
            await driver.close()
        faults.settle(result.samples)
        result.evidence = await self._evidence(scenario, driver, started)
        checked, result.steady_state_after = await asyncio.to_thread(steady_state, self.stack)
        result.window = (wall_started, time.time())
        if self.panels and self.stack.prometheus_url:
            # One more scrape, so the window's last seconds are in Prometheus too.
            await asyncio.sleep(SCRAPE_INTERVAL_S)
            result.panels = await asyncio.to_thread(
                capture, self.stack.prometheus_url, result.window[0], time.time()
            )
        result.verdicts = evaluate(scenario, result.evidence, result.faults)
        result.verdicts.append(
            Verdict(
                "steady state after rollback",
                "; ".join(checked),
                "; ".join(result.steady_state_after) or "holds",
                not result.steady_state_after,
            )
        )

    async def _wait_until_done(
        self, driver: WorkloadDriver, scenario: Scenario, started: float
    ) -> None:
        created = [r.created_at_s or 0.0 for r in driver.records]
        deadline = started + max(created, default=0.0) + scenario.expect.deadline_s
        while time.monotonic() < deadline:
            # The sampler keeps the statuses fresh; this loop only watches them.
            if all(r.done for r in driver.records if r.payment_id):
                return
            await asyncio.sleep(0.2)

    async def _sample(
        self,
        driver: WorkloadDriver,
        faults: FaultInjector,
        result: ScenarioResult,
        started: float,
        stop: asyncio.Event,
    ) -> None:
        """Every SAMPLE_EVERY_S: payments by state (from the API) and debits and refunds (from the
        ledger), each source bounded in time, so a component under fault marks a gap in the
        samples (``api``/``ledger`` null) instead of stalling the sampler."""
        assert self.stack.config is not None
        ledger = Ledger(self.stack.config.ledger_path, lock_wait_s=SAMPLE_EVERY_S)
        last_print = 0.0
        while not stop.is_set():
            tick = time.monotonic()
            api_answered = await driver.refresh(SAMPLE_TIMEOUT_S)
            ids = [r.payment_id for r in driver.records if r.payment_id]
            try:
                counts: dict[str, int] | None = await asyncio.wait_for(
                    asyncio.to_thread(ledger.entry_counts, ids), SAMPLE_TIMEOUT_S
                )
            except SAMPLE_ERRORS:
                counts = None
            traffic = await self._link_traffic()
            now = time.monotonic() - started
            states = Counter(r.state for r in driver.records)
            result.samples.append(
                {
                    "t": round(now, 2),
                    **states,
                    "api": api_answered,
                    "ledger": counts,
                    "links": traffic,
                    "faults": faults.active_descriptions,
                }
            )
            if now - last_print >= 1.0:
                last_print = now
                shown = " ".join(f"{k} {v}" for k, v in sorted(states.items()))
                if not api_answered:
                    shown += " (API not answering: last known)"
                active = "; ".join(faults.active_descriptions) or "none"
                self.progress(
                    f"[{result.scenario.name}] t={now:5.1f}s  {shown}  | faults: {active}"
                )
            pause = max(0.0, tick + SAMPLE_EVERY_S - time.monotonic())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), pause)

    async def _link_traffic(self) -> dict[str, int] | None:
        """Bytes each link has carried (Toxiproxy), or None without links or an answer."""
        links = self.stack.links
        if links is None:
            return None
        try:
            return await asyncio.to_thread(links.traffic, SAMPLE_TIMEOUT_S)
        except httpx.HTTPError:
            return None

    async def _reconcile(self, scenario: Scenario, started: float) -> ReconcileReport:
        """One reconciliation pass, once what terminated executions left in flight has settled.

        Where the provider processes charges late, the pass waits until the sagas have been
        closed long enough to be settled, and a second pass runs once every late-processed
        charge has landed, as the every-minute schedule would: a pass that settled a payment
        before its charge landed is what item 7 of issue 34 was."""
        config = self.stack.config
        assert config is not None
        hits = [f.last_hit_at_s for f in self._faults if f.last_hit_at_s is not None]
        late_s = scenario.late_processing_s
        if late_s:
            hits.append(time.monotonic() - started)
        if hits:
            # An activity attempt of a terminated execution can still commit until it times out.
            await asyncio.sleep(max(0.0, started + max(hits) + SETTLE_S - time.monotonic()))
        self.progress("reconciling ...")
        client = await connect(config)
        report = await reconcile_now(client)
        if not late_s:
            return report
        await asyncio.sleep(late_s + 1)
        self.progress("reconciling again, after every late-processed charge landed ...")
        return successive(report, await reconcile_now(client))

    async def _evidence(
        self, scenario: Scenario, driver: WorkloadDriver, started: float
    ) -> Evidence:
        config = self.stack.config
        assert config is not None
        if scenario.lands_by_s:
            # A stalled database call runs on after its activity timed out: let it land.
            await asyncio.sleep(max(0.0, started + scenario.lands_by_s + 1 - time.monotonic()))
        reconcile = await self._reconcile(scenario, started) if scenario.needs_reconciler else None
        if scenario.expect.late_callbacks_ignored is not None:
            await self._await_late_callbacks(driver)
            await asyncio.gather(*(driver.status(r) for r in driver.records))
        settings = scenario.settings
        bundle = await collect_bundle(
            config,
            [
                (r.payment_id, r.user, r.amount, r.terminated, r.status)
                for r in driver.records
                if r.payment_id
            ],
            (settings.velocity_window_s, settings.velocity_max_payments),
            frozenset(r.payment_id for r in driver.records if r.deleted and r.payment_id),
            settings.callback_timeout_s,
            healthy=scenario.calm,
        )
        evidence = Evidence(
            payments=driver.records,
            probes=driver.probes,
            bundle=bundle,
            checks=check_all(bundle),
            late_callbacks_ignored=late_callbacks_ignored(bundle),
            duplicate_callbacks=duplicate_callbacks_delivered(bundle),
            foreign_callbacks=foreign_callbacks_delivered(bundle),
            reconcile=reconcile,
        )
        if scenario.expect.upgrade_paths:
            ids = [r.payment_id for r in driver.records if r.payment_id]
            facts = await version_facts(config, ids)
            evidence.new_path, evidence.finished_on, evidence.nondeterminism = facts
            upgrade = next((f for f in self._faults if f.kind == "upgrade"), None)
            if upgrade and upgrade.started_at_s is not None and upgrade.applied_at_s is not None:
                evidence.upgrade_window = (upgrade.started_at_s, upgrade.applied_at_s)
        sample = next(
            (
                r
                for r in driver.records
                if r.state in ("failed", "cancelled")
                and r.payment_id
                and r.status.get("compensations")
            ),
            None,
        )
        sample = sample or next((r for r in driver.records if r.payment_id), None)
        if sample and sample.payment_id:
            evidence.sample_payment = sample.payment_id
            with contextlib.suppress(Exception):  # the picture is a nice-to-have, not a verdict
                evidence.sample_history = await history_steps(config, sample.payment_id)
        return evidence

    async def _await_late_callbacks(self, driver: WorkloadDriver, timeout_s: float = 20.0) -> None:
        config = self.stack.config
        assert config is not None
        timed_out = {
            r.payment_id for r in driver.records if r.status.get("reason") == "callback_timeout"
        }
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            charges = await asyncio.to_thread(charges_by_payment, config)
            if all(charges.get(p or "", {}).get("callbacks_sent", 0) > 0 for p in timed_out):
                return
            await asyncio.sleep(0.5)
