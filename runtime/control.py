"""The control endpoint of a running stack: how another terminal's harness run acts on it.

``saga up`` serves it on a free loopback port and writes ``<state>/control.json``
(``{"url": ..., "token": ..., "pid": ...}``, readable by its owner only). A harness run started
with ``--attach STATE_DIR`` (:mod:`runtime.attached`) reads the file and asks the stack's owner,
which holds every child process, to act on them; everything else it needs (the config, the
ledger, the simulators' admin APIs, Toxiproxy, API keys) it reaches as the stack's own tools do.

Every request carries ``Authorization: Bearer <token>``; bodies and answers are JSON:

- ``GET /stack``: ``{"build", "processes": {name: {"pid", "running"}}, "prometheus_url",
  "ui_url"}``.
- ``POST /processes/<name>/signal`` ``{"signal": "KILL" | "STOP" | "CONT"}``: sent to the
  process group; a ``KILL`` waits for the exit. Answers ``{"pid", "returncode", "running"}``.
- ``POST /processes/<name>/restart``: stop it (if it runs) and start it again, ready. Answers
  ``{"pid"}``.
- ``POST /deploy`` ``{"build", "drain_s", "force"}``: a rolling deploy
  (:meth:`EmbeddedStack.deploy`; a rollback that would strand open payments is refused unless
  ``force``).

Errors are ``{"error": message}`` with 400 (bad body), 401 (token), 404 (unknown path or
process) or 500 (the action failed).
"""

from __future__ import annotations

import hmac
import json
import os
import secrets
import signal
import threading
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from orchestrator.errors import TemporalUnreachable
from orchestrator.private_files import write_private
from runtime.embedded import EmbeddedStack
from runtime.errors import StackError

CONTROL_FILE = "control.json"
SIGNALS = {"KILL": signal.SIGKILL, "STOP": signal.SIGSTOP, "CONT": signal.SIGCONT}
#: A restart or a deploy waits for readiness; the client waits longer than that.
CLIENT_TIMEOUT_S = 180.0


class _Refused(Exception):
    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


class ControlServer:
    """Serves a stack's control endpoint from a thread; one action at a time."""

    def __init__(self, stack: EmbeddedStack) -> None:
        self.stack = stack
        self.token = secrets.token_urlsafe(24)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """Where it listens."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def path(self) -> Path:
        """The control file of the stack."""
        return Path(self.stack.state_dir) / CONTROL_FILE

    def start(self) -> None:
        """Listen, and write the control file."""
        self._thread.start()
        body = {"url": self.url, "token": self.token, "pid": os.getpid()}
        write_private(self.path, json.dumps(body).encode())

    def stop(self) -> None:
        """Stop listening and remove the control file."""
        self.path.unlink(missing_ok=True)
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> ControlServer:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    # -- the actions ---------------------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        """The stack's build and process table."""
        stack = self.stack
        return {
            "build": stack.build,
            "processes": {
                name: {"pid": p.pid, "running": p.running} for name, p in stack.processes.items()
            },
            "prometheus_url": stack.prometheus_url,
            "ui_url": stack.ui_url,
        }

    def act(self, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """Do what one request asks; raise :class:`_Refused` for a bad one."""
        parts = [p for p in path.split("/") if p]
        if method == "GET" and parts == ["stack"]:
            return self.describe()
        if method == "POST" and parts == ["deploy"]:
            build = body.get("build")
            if not isinstance(build, str):
                raise _Refused(HTTPStatus.BAD_REQUEST, "deploy: 'build' must be a string")
            with self._lock:
                self.stack.deploy(
                    build, drain_s=float(body.get("drain_s", 2.0)), force=bool(body.get("force"))
                )
            return {"build": self.stack.build}
        if method == "POST" and len(parts) == 3 and parts[0] == "processes":
            process = self.stack.processes.get(parts[1])
            if process is None:
                raise _Refused(HTTPStatus.NOT_FOUND, f"no process {parts[1]!r}")
            if parts[2] == "restart":
                with self._lock:
                    self.stack.restart(parts[1])
                return {"pid": self.stack.processes[parts[1]].pid}
            if parts[2] == "signal":
                sig = SIGNALS.get(str(body.get("signal")))
                if sig is None:
                    raise _Refused(HTTPStatus.BAD_REQUEST, f"signal: one of {sorted(SIGNALS)}")
                pid = process.pid
                with self._lock:
                    process.signal(sig)
                    if sig is signal.SIGKILL and process.popen is not None:
                        process.popen.wait(timeout=10)
                code = process.popen.returncode if process.popen else None
                return {"pid": pid, "returncode": code, "running": process.running}
        raise _Refused(HTTPStatus.NOT_FOUND, f"no {method} {path}")

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        control = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._answer("GET")

            def do_POST(self) -> None:
                self._answer("POST")

            def _answer(self, method: str) -> None:
                status, answer = HTTPStatus.OK, {}
                try:
                    given = self.headers.get("Authorization") or ""
                    if not hmac.compare_digest(given.encode(), f"Bearer {control.token}".encode()):
                        raise _Refused(HTTPStatus.UNAUTHORIZED, "a bearer token is required")
                    length = int(self.headers.get("Content-Length") or 0)
                    body = json.loads(self.rfile.read(length) or b"{}") if length else {}
                    if not isinstance(body, dict):
                        raise _Refused(HTTPStatus.BAD_REQUEST, "the body must be a JSON object")
                    answer = control.act(method, self.path, body)
                except _Refused as err:
                    status, answer = err.status, {"error": str(err)}
                except json.JSONDecodeError as err:
                    status, answer = HTTPStatus.BAD_REQUEST, {"error": f"not JSON: {err}"}
                except (StackError, TemporalUnreachable, OSError, RuntimeError) as err:
                    status, answer = HTTPStatus.INTERNAL_SERVER_ERROR, {"error": str(err)}
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: ``saga up`` owns the terminal."""

        return Handler


@dataclass(frozen=True)
class ControlClient:
    """Talks to a running stack's control endpoint."""

    url: str
    token: str

    @classmethod
    def of(cls, state_dir: Path) -> ControlClient:
        """The client for the stack in ``state_dir``; a clear error when none runs there."""
        path = state_dir / CONTROL_FILE
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise StackError(
                f"--attach: no running stack in {state_dir} ({CONTROL_FILE} is missing: start"
                " one with `saga up`, or name its state directory)"
            ) from None
        return cls(str(data["url"]), str(data["token"]))

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """One request; :class:`StackError` with the endpoint's message on a refusal."""
        try:
            response = httpx.request(
                method,
                f"{self.url}{path}",
                json=body,
                headers={"Authorization": f"Bearer {self.token}"},
                timeout=CLIENT_TIMEOUT_S,
            )
        except httpx.TransportError as err:
            raise StackError(
                f"the stack's control endpoint {self.url} did not answer: {err}"
            ) from None
        answer: dict[str, Any] = response.json()
        if response.status_code != HTTPStatus.OK:
            raise StackError(f"{method} {path}: {answer.get('error', response.text)}")
        return answer
