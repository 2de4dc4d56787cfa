"""The steady-state hypothesis: checked before a scenario starts (the run is refused if it does
not hold) and again after the rollback (a verdict: the system came back)."""

from __future__ import annotations

import httpx

from chaos.errors import SteadyStateError
from runtime.audit import ledger_check
from runtime.stack_view import RunningStack


def check_steady_state(stack: RunningStack) -> list[str]:
    """Raise :class:`SteadyStateError` listing what is wrong; returns what was checked."""
    checked, problems = steady_state(stack)
    if problems:
        raise SteadyStateError("system not in steady state: " + "; ".join(problems))
    return checked


def steady_state(stack: RunningStack) -> tuple[list[str], list[str]]:
    """What was checked, and what is wrong: every process running, the API and simulators
    answering, every link up without toxics, money conserved."""
    config = stack.config
    assert config is not None
    problems = [
        f"process {name} is not running" for name, p in stack.processes.items() if not p.running
    ]
    checked = [f"{len(stack.processes)} processes running"]
    for name, url in (
        ("api", config.api_url),
        ("provider", config.admin_urls.provider),
        ("fraud", config.admin_urls.fraud),
        ("notify", config.admin_urls.notify),
    ):
        try:
            healthy = httpx.get(f"{url}/health", timeout=5).is_success
        except httpx.HTTPError:
            healthy = False
        if not healthy:
            problems.append(f"{name} /health is not answering")
    checked.append("api and simulators healthy")
    if stack.links is not None:
        for link, state in stack.links.state().items():
            if not state["enabled"] or state["toxics"]:
                problems.append(f"link {link} is not clean: {state}")
        checked.append("every link up, no toxics")
    report = ledger_check(config, {})
    if not report.conserved:
        problems.append(f"money not conserved: {report.summary()}")
    checked.append("money conserved")
    return checked, problems
