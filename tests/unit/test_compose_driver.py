"""The docker-compose fault driver (``runtime.compose``) without an engine: the compose commands
each fault issues, read back through a recording stand-in for ``docker`` that keeps each
service's container state (``tests/compose/`` runs the same driver against a real one)."""

from __future__ import annotations

import json
import shutil
import signal
import tempfile
from collections.abc import Sequence
from pathlib import Path
from secrets import token_hex

import pytest

from chaos.nemesis.process import ProcessFault, process_effect
from chaos.run.stacks import compose_refusals
from chaos.scenario.format import parse_scenario
from orchestrator.models import SagaOptions
from runtime import compose
from runtime.cli import main
from runtime.compose import ComposeCommands, ComposeStack

ROOT = Path(__file__).resolve().parents[2]
SECRET = token_hex(32)
SERVICES = ["postgres", "temporal", "toxiproxy", "api", "sim-provider", "worker-payments"]


class FakeDocker:
    """Answers the commands :class:`ComposeCommands` builds, keeping container states."""

    def __init__(self, project: Path) -> None:
        self.base = ComposeCommands().base()
        self.calls: list[list[str]] = []
        self.state = dict.fromkeys(SERVICES, "running")
        self.exit = dict.fromkeys(SERVICES, 0)

    def compose_calls(self) -> list[list[str]]:
        """The calls after the ``docker compose`` prefix, ps and inspect left out."""
        return [
            c[len(self.base) :]
            for c in self.calls
            if c[: len(self.base)] == self.base and c[len(self.base)] != "ps"
        ]

    def inspect(self, ids: list[str]) -> str:
        rows = []
        for container in ids:
            service = container.removeprefix("c-")
            state = self.state[service]
            rows.append(
                {
                    "Id": container,
                    "Config": {"Labels": {"com.docker.compose.service": service}},
                    "State": {
                        "Status": state,
                        "ExitCode": self.exit[service],
                        "Pid": 1000 + SERVICES.index(service) if state != "exited" else 0,
                        "Health": {"Status": "healthy"},
                    },
                }
            )
        return json.dumps(rows)

    def __call__(self, argv: Sequence[str]) -> str:
        argv = list(argv)
        self.calls.append(argv)
        if argv[:2] == ["docker", "inspect"]:
            return self.inspect(argv[2:])
        assert argv[: len(self.base)] == self.base, argv
        verb, *rest = argv[len(self.base) :]
        service = rest[-1] if rest else ""
        if verb == "ps":
            return "".join(f"c-{s}\n" for s in self.state)
        if verb == "kill":
            self.state[service], self.exit[service] = "exited", 128 + signal.SIGKILL
        elif verb == "pause":
            self.state[service] = "paused"
        elif verb == "unpause":
            assert self.state[service] == "paused", "docker refuses to unpause a running container"
            self.state[service] = "running"
        elif verb in ("restart", "up"):
            self.state[service], self.exit[service] = "running", 0
        elif verb == "exec" and rest[2:4] == ["cat", "/data/credentials.json"]:
            return json.dumps({"alice": "key-a"})
        elif verb == "exec" and "runtime.seed" in rest:
            return json.dumps({rest[rest.index("--user") + 1]: "key-new"})
        return ""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "compose").mkdir()
    for name in ("config.json", "harness.json"):
        shutil.copy(ROOT / "compose" / name, tmp_path / "compose" / name)
    monkeypatch.setenv("SAGA_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("SAGA_PAYMENT_ID_SECRET", SECRET)
    # The simulators' knobs are read and put back over HTTP: not what is tested here.
    monkeypatch.setattr(compose, "read_knobs", lambda url: {"latency_ms": 0})
    monkeypatch.setattr(compose, "put_back_knobs", lambda found: None)
    # The harness's own directory (removed by stop(), which most tests do not reach) in tmp_path.
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    return tmp_path


def test_the_commands_are_the_same_for_compose_v1_and_v2() -> None:
    for program in (("docker", "compose"), ("docker-compose",)):
        commands = ComposeCommands(program)
        base = list(program)
        assert commands.kill("worker-payments") == [
            *base,
            "kill",
            "-s",
            "SIGKILL",
            "worker-payments",
        ]
        assert commands.pause("sim-fraud") == [*base, "pause", "sim-fraud"]
        assert commands.unpause("sim-fraud") == [*base, "unpause", "sim-fraud"]
        assert commands.restart("api") == [*base, "restart", "api"]
        assert commands.up("postgres") == [*base, "up", "-d", "--no-deps", "postgres"]
        assert commands.ps() == [*base, "ps", "-a", "-q"]  # flags both versions know
        assert commands.inspect(["c1"]) == ["docker", "inspect", "c1"]


def test_the_stack_lists_only_fault_targets_with_their_host_pids(project: Path) -> None:
    docker = FakeDocker(project)
    stack = ComposeStack(project, run=docker, commands=ComposeCommands())
    assert set(stack.processes) == set(SERVICES) - {"toxiproxy"}  # never a process target
    assert stack.processes["api"].pid == 1000 + SERVICES.index("api")
    assert stack.api_keys == {"alice": "key-a"}
    assert stack.config.api_url == "http://127.0.0.1:8000"
    assert stack.links is not None and stack.links.api == "http://127.0.0.1:8474"


def test_a_kill_is_docker_kill_and_its_revert_brings_the_service_back_healthy(
    project: Path,
) -> None:
    docker = FakeDocker(project)
    stack = ComposeStack(project, run=docker, commands=ComposeCommands())
    fault = ProcessFault(target="worker-payments", action="kill", at_s=0, duration_s=1)
    before = stack.processes["worker-payments"].pid
    stack.processes["worker-payments"].signal(signal.SIGKILL)
    effect, effective = process_effect(fault, before, stack.processes["worker-payments"])
    assert effective and "killed (exit -9)" in effect  # docker's exit 137 read as -9
    stack.restart("worker-payments")
    assert docker.compose_calls() == [
        ["exec", "-T", "api", "cat", "/data/credentials.json"],
        ["kill", "-s", "SIGKILL", "worker-payments"],
        ["up", "-d", "--no-deps", "worker-payments"],  # not `restart`: it is dead; then healthy
    ]
    assert stack.processes["worker-payments"].running


def test_a_pause_is_docker_pause_and_a_resume_of_a_running_service_does_nothing(
    project: Path,
) -> None:
    docker = FakeDocker(project)
    stack = ComposeStack(project, run=docker, commands=ComposeCommands())
    fault = ProcessFault(target="sim-provider", action="pause", at_s=0, duration_s=1)
    stack.processes["api"].signal(signal.SIGCONT)  # the rollback resumes every process
    stack.processes["sim-provider"].signal(signal.SIGSTOP)
    assert process_effect(fault, 1, stack.processes["sim-provider"]) == (
        "sim-provider paused",
        True,
    )
    stack.processes["sim-provider"].signal(signal.SIGCONT)
    assert [c[0] for c in docker.compose_calls()[1:]] == ["pause", "unpause"]


def test_saga_settings_go_to_the_containers_config_and_come_back(project: Path) -> None:
    docker = FakeDocker(project)
    original = (project / "compose" / "config.json").read_text()
    stack = ComposeStack(project, run=docker, commands=ComposeCommands())
    stack.apply_saga(SagaOptions(callback_timeout_s=30.0))
    written = json.loads((project / "compose" / "config.json").read_text())
    assert written["saga"]["callback_timeout_s"] == 30.0
    assert ["restart", "api"] in docker.compose_calls()
    assert stack.add_account(stack.config, "run-user", 5_000, methods=("card",)) == "key-new"
    seed = next(c for c in docker.compose_calls() if "runtime.seed" in c)
    assert seed[-6:] == ["--user", "run-user", "--balance", "5000", "--methods", "card"]
    assert stack.state_dir.parent == project / "scratch"
    stack.stop()
    assert json.loads((project / "compose" / "config.json").read_text()) == json.loads(original)
    assert not stack.state_dir.exists()  # the harness's files go with it


def test_what_compose_cannot_do_is_refused_naming_the_fault() -> None:
    scenario = parse_scenario(
        "name: x\ndescription: d\nbuild: v1\nfaults:\n"
        "  - {kind: ledger, action: slow, latency_ms: 100, at_s: 0, duration_s: 1}\n"
        "  - {kind: toxic, link: provider, toxic: latency, toxicity: 0.5,"
        " attributes: {latency: 10}, at_s: 0, duration_s: 1}\n"
        "  - {kind: upgrade, build: v2, at_s: 1, duration_s: 1}\n"
        "  - {kind: process, target: worker-payments, action: kill, at_s: 0, duration_s: 1}\n",
        "scenarios/x.yaml",
    )
    assert compose_refusals(scenario) == [
        "build: v1 (compose runs v2 only)",
        "faults[0]: a slow ledger (a deployment honours no failpoints)",
        "faults[1]: a partial toxic (a deployment honours no partial-link table)",
        "faults[2]: an upgrade (compose runs one build)",
    ]


def test_the_cli_refuses_before_touching_docker(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["scenario", "run", "velocity-burst", "--compose", "/nonexistent"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "not on a docker-compose deployment" in err
    assert "velocity-burst: faults[0]: a slow ledger" in err
