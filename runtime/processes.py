"""Child processes the stack owns: started in their own process group, logged to a file,
checked for readiness, and always stopped (SIGTERM, then SIGKILL) by the code that started them.

If the process that started them dies without stopping them (SIGKILL, a crash), the kernel kills
them too: each child asks for ``PR_SET_PDEATHSIG`` before it execs. The kernel sends that signal
when the *thread* that forked the child exits, so every child is forked by one thread that lives
as long as the process (:func:`spawn`), never by a short-lived worker thread.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import random
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from runtime.errors import StackError

PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="spawner")


def _die_with_parent(parent: int) -> Callable[[], None]:
    def in_child() -> None:
        _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return in_child


def spawn(argv: Sequence[str], **popen_args: Any) -> subprocess.Popen[Any]:
    """``subprocess.Popen`` from the one spawner thread; the child dies with this process."""

    def start() -> subprocess.Popen[Any]:
        return subprocess.Popen(list(argv), preexec_fn=_die_with_parent(os.getpid()), **popen_args)

    return _spawner.submit(start).result()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now, and that no one else will pick.

    Ports are chosen below the kernel's ephemeral range: a port from ``bind(0)`` can be handed
    to another process (the Temporal dev server opens several internal ports that way) between
    the moment we pick it and the moment our child binds it. Ports handed out by this process
    are never handed out twice.
    """
    low, _ = _ephemeral_range()
    floor = max(1024, low - 12_000)
    for _ in range(200):
        port = _random.randrange(floor, low)
        if port in _handed_out:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise StackError(f"no free port found between {floor} and {low}")


_handed_out: set[int] = set()
_random = random.SystemRandom()


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def preferred_port(port: int) -> int:
    """``port`` if it is free on 127.0.0.1, else any free port."""
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return free_port()
    return port


def port_open(port: int) -> bool:
    """Whether something accepts connections on 127.0.0.1:port."""
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def http_ok(url: str) -> Callable[[], bool]:
    """A readiness check: ``url`` answers 2xx."""

    def check() -> bool:
        try:
            return httpx.get(url, timeout=1.0).is_success
        except httpx.HTTPError:
            return False

    return check


@dataclass
class ManagedProcess:
    """One child process of the stack."""

    name: str
    argv: Sequence[str]
    log_path: Path
    ready: Callable[[], bool]
    popen: subprocess.Popen[bytes] | None = None
    user: str | None = None
    """Run as this user (and its group), e.g. ``postgres``, which refuses to run as root."""
    env: dict[str, str] | None = None
    """Variables added to this process's inherited environment (None: none)."""

    def start(self, timeout_s: float = 60.0) -> None:
        """Start the process and wait until it is ready; raise :class:`StackError` if it is not."""
        self.launch()
        self.wait_ready(timeout_s)

    def launch(self) -> None:
        """Start the process without waiting for it."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            as_user: dict[str, Any] = {"user": self.user, "group": self.user, "extra_groups": []}
            self.popen = spawn(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # own process group: a stop reaches its children too
                env={**os.environ, **self.env} if self.env else None,
                **(as_user if self.user else {}),
            )

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        """Wait until the readiness check passes; raise :class:`StackError` if it never does."""
        assert self.popen is not None, "launch() first"
        deadline = time.monotonic() + timeout_s
        while not self.ready():
            if self.popen.poll() is not None:
                raise StackError(
                    f"{self.name} exited with {self.popen.returncode}:\n{self.log_tail()}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise StackError(f"{self.name} not ready after {timeout_s:g}s:\n{self.log_tail()}")
            time.sleep(0.1)

    @property
    def running(self) -> bool:
        """Whether the process is alive."""
        return self.popen is not None and self.popen.poll() is None

    @property
    def pid(self) -> int | None:
        """The process id while it runs."""
        return self.popen.pid if self.running and self.popen else None

    def signal(self, sig: signal.Signals) -> None:
        """Send ``sig`` to the process group."""
        if self.popen is not None and self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, sig)

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM the group, then SIGKILL whatever is left after ``timeout_s``."""
        if self.popen is None:
            return
        self.signal(signal.SIGCONT)  # a paused process cannot handle SIGTERM
        self.signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.popen.wait(timeout=5)

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of the process's log."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


@dataclass
class _GroupExit:
    """The exit of a group's processes, as one: ``returncode`` is the members' when they all
    ended the same way (a kill -9 of the group: -9), else the first non-zero one."""

    members: list[ManagedProcess]

    @property
    def returncode(self) -> int | None:
        codes = [m.popen.returncode if m.popen else None for m in self.members]
        if None in codes:
            return None
        return codes[0] if len(set(codes)) == 1 else next((c for c in codes if c), 0)

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait for every member to end."""
        for member in self.members:
            if member.popen is not None:
                member.popen.wait(timeout=timeout)
        return self.returncode


@dataclass
class ProcessGroup:
    """Several processes acted on as one: signalled together, started in order (the first
    ready before the others launch), stopped newest first. The cluster backend's ``temporal``:
    every Temporal service at once, as the dev server is on the other backend."""

    name: str
    members: list[ManagedProcess]

    @property
    def running(self) -> bool:
        """Whether every member is alive."""
        return all(m.running for m in self.members)

    @property
    def pid(self) -> int | None:
        """The first member's process id while every member runs."""
        return self.members[0].pid if self.running else None

    @property
    def popen(self) -> _GroupExit:
        """The members' exit, as one."""
        return _GroupExit(self.members)

    def signal(self, sig: signal.Signals) -> None:
        """Send ``sig`` to every member."""
        for member in self.members:
            member.signal(sig)

    def start(self, timeout_s: float = 120.0) -> None:
        """Start the first member, then the others together; ready when all are."""
        first, *rest = self.members
        first.start(timeout_s)
        for member in rest:
            member.launch()
        for member in rest:
            member.wait_ready(timeout_s)

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop every member, the last started first."""
        for member in reversed(self.members):
            member.stop(timeout_s)


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (from /proc), wherever their process group or session."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # The command name (field 2) may hold spaces: the parent is after its closing paren.
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        children = parents.get(todo.pop(), [])
        found += children
        todo += children
    return found


@dataclass
class ServerProcess(ManagedProcess):
    """A server whose workers leave its process group (PostgreSQL's backends each start a
    session of their own): a SIGKILL reaches them too, as a crash of its machine would, so the
    restarted server finds no survivor holding its shared memory."""

    def signal(self, sig: signal.Signals) -> None:
        """Send ``sig`` to the group; a SIGKILL to every descendant as well."""
        pid = self.pid
        below = descendants(pid) if sig == signal.SIGKILL and pid is not None else []
        super().signal(sig)
        for pid in below:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def process_pids(processes: Mapping[str, object]) -> dict[str, int]:
    """PID per running process of a stack, groups left out (their members are listed)."""
    return {
        name: pid
        for name, p in processes.items()
        if not isinstance(p, ProcessGroup) and (pid := getattr(p, "pid", None)) is not None
    }
