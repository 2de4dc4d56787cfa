"""The control endpoint's protocol, against a fake stack (the real one: test_attach.py)."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pytest

from runtime.control import CONTROL_FILE, ControlClient, ControlServer
from runtime.embedded import EmbeddedStack
from runtime.errors import StackError


@dataclass
class FakeProcess:
    pid: int | None = 41
    sent: list[signal.Signals] = field(default_factory=list)
    popen: Any = None

    @property
    def running(self) -> bool:
        return self.pid is not None

    def signal(self, sig: signal.Signals) -> None:
        self.sent.append(sig)


@dataclass
class FakeStack:
    state_dir: Path
    build: str = "v2"
    processes: dict[str, FakeProcess] = field(default_factory=lambda: {"api": FakeProcess()})
    prometheus_url: str | None = None
    ui_url: str | None = None
    restarted: list[str] = field(default_factory=list)

    def restart(self, name: str) -> None:
        self.restarted.append(name)
        self.processes[name] = FakeProcess(pid=42)

    def deploy(self, build: str, drain_s: float = 2.0, *, force: bool = False) -> None:
        self.build = build


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[FakeStack, ControlClient]]:
    stack = FakeStack(tmp_path)
    with ControlServer(cast(EmbeddedStack, stack)):
        assert (tmp_path / CONTROL_FILE).stat().st_mode & 0o077 == 0  # the token is private
        yield stack, ControlClient.of(tmp_path)
    assert not (tmp_path / CONTROL_FILE).exists()


def test_it_describes_restarts_signals_and_deploys(served: tuple[FakeStack, ControlClient]) -> None:
    stack, client = served
    assert client.call("GET", "/stack")["processes"] == {"api": {"pid": 41, "running": True}}
    assert client.call("POST", "/processes/api/restart") == {"pid": 42}
    assert stack.restarted == ["api"]
    client.call("POST", "/processes/api/signal", {"signal": "STOP"})
    assert stack.processes["api"].sent == [signal.SIGSTOP]
    assert client.call("POST", "/deploy", {"build": "v1", "drain_s": 0})["build"] == "v1"


@pytest.mark.parametrize(
    ("method", "path", "body", "message"),
    [
        ("POST", "/processes/nope/restart", None, "no process 'nope'"),
        ("POST", "/processes/api/signal", {"signal": "HUP"}, "signal: one of"),
        ("POST", "/deploy", {"build": 2}, "'build' must be a string"),
        ("GET", "/nowhere", None, "no GET /nowhere"),
    ],
)
def test_bad_requests_are_named(
    served: tuple[FakeStack, ControlClient],
    method: str,
    path: str,
    body: dict[str, Any] | None,
    message: str,
) -> None:
    _, client = served
    with pytest.raises(StackError, match=message):
        client.call(method, path, body)


def test_a_wrong_token_is_refused(served: tuple[FakeStack, ControlClient]) -> None:
    _, client = served
    with pytest.raises(StackError, match="bearer token"):
        ControlClient(client.url, "wrong").call("GET", "/stack")


def test_no_control_file_means_no_stack(tmp_path: Path) -> None:
    with pytest.raises(StackError, match="saga up"):
        ControlClient.of(tmp_path)
