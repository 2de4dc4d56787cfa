"""The ``saga`` command.

    saga up                        start the embedded stack and wait for Ctrl-C
    saga pay --user U --amount N --method M
    saga status ID                 the payment's status (the workflow's query, through the API)
    saga cancel ID
    saga reconcile [--dry-run]     repair what no saga will (terminated executions, live charges)
    saga demo                      start a stack, run five payments, check the ledger, stop
    saga histories record          re-record the replay gate's history corpus

The harness adds, through the ``saga.commands`` entry point group (:mod:`chaos.commands`):

    saga scenario list|show|validate|run   named chaos scenarios
    saga check JOURNAL             re-run the checkers on a journal's evidence
    saga mutants list|run          the mutation score of the scenario suite
    saga explore                   random fault schedules against the real stack, shrunk
    saga load / saga bench         k6 load (optionally under a scenario) / the benchmark
    saga simulate run|plan|calibrate|validate|chart   the SimPy model at scale

Commands that talk to the API find the running stack through ``--state-dir`` (default
``$SAGA_STATE_DIR`` or ``.saga``), where ``saga up`` wrote its config and demo API keys.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

import httpx

from orchestrator.api.auth import credentials_path
from orchestrator.config import PAYMENT_METHODS, StackConfig, load_config
from orchestrator.errors import SagaError
from orchestrator.models import SagaOptions
from orchestrator.reconcile import SCHEDULE_ID
from runtime import cluster
from runtime.api_client import SagaClient
from runtime.control import ControlServer
from runtime.embedded import EmbeddedStack, StackOptions
from runtime.processes import preferred_port
from runtime.scratch import in_scratch_state_dir, scratch_state_dir
from runtime.state_lock import hold_state_dir

#: Entry point group through which other packages add subcommands (the harness: ``chaos``).
COMMAND_GROUP = "saga.commands"


def _state_dir(args: argparse.Namespace) -> Path:
    return Path(args.state_dir or os.environ.get("SAGA_STATE_DIR") or ".saga")


def _owners_path(state_dir: Path) -> Path:
    return state_dir / "payments.json"


def _client_for(
    args: argparse.Namespace, user: str | None, payment_id: str | None = None
) -> SagaClient:
    state_dir = _state_dir(args)
    config = load_config(state_dir / "config.json", needs=())  # a client holds no app secret
    credentials = credentials_path(config.api_keys_path)
    keys: dict[str, str] = json.loads(credentials.read_text())
    if user is None and payment_id is not None:
        owners = _read_owners(state_dir)
        user = owners.get(payment_id)
    if user is None:
        raise SagaError("which user? pass --user (the payment was not created by this CLI)")
    key = keys.get(user)
    if key is None:
        raise SagaError(f"no API key for user {user!r} in {credentials}")
    return SagaClient(config.api_url, key)


def _read_owners(state_dir: Path) -> dict[str, str]:
    path = _owners_path(state_dir)
    owners: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    return owners


def _print(data: Any) -> None:
    print(json.dumps(data, indent=2))


async def _create_reconciler_schedule(config: StackConfig) -> None:
    from orchestrator.reconcile import ensure_schedule
    from orchestrator.temporal_client import connect

    await ensure_schedule(await connect(config))


def cmd_up(args: argparse.Namespace) -> int:
    """Start the stack and block until Ctrl-C or SIGTERM."""

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    options = StackOptions(
        state_dir=_state_dir(args),
        saga=SagaOptions(callback_timeout_s=args.callback_timeout),
        ui=not args.headless,
        worker_versioning=True,
        # Temporal's default ports when free, so the plain `temporal` CLI needs no --address.
        temporal_port=preferred_port(7233),
        ui_port=preferred_port(8233),
        prometheus_port=preferred_port(9090),
        ledger=args.ledger,
        backend=args.backend,
    )
    with hold_state_dir(Path(options.state_dir)):
        _serve(options, args)
    return 0


def _serve(options: StackOptions, args: argparse.Namespace) -> None:
    """Run the stack, print where everything is, and block until Ctrl-C or SIGTERM."""
    stack = EmbeddedStack(options)
    control = ControlServer(stack)
    try:
        config = stack.start()
        asyncio.run(_create_reconciler_schedule(config))
        control.start()
        print(f"API:          {config.api_url}  (OpenAPI: {config.api_url}/schema)")
        address = config.temporal_address
        print(f"Temporal:     {address}  (plain CLI: temporal ... --address {address})")
        if stack.ui_url:
            print(f"Temporal UI:  {stack.ui_url}")
        if args.backend == "cluster":
            services = ", ".join(n for n in stack.processes if n.startswith("temporal-"))
            print(f"Services:     {services} ({cluster.SHARDS} history shards, PostgreSQL)")
        if stack.prometheus_url:
            print(f"Prometheus:   {stack.prometheus_url}  (try: saga_payments_finished_total)")
        else:
            print("Prometheus:   not started (not on PATH; see README, Observability)")
        urls = config.admin_urls
        print(f"Simulators:   provider {urls.provider}  fraud {urls.fraud}  notify {urls.notify}")
        print(f"State, logs:  {stack.state_dir}")
        print(f"Ledger:       {config.ledger_path}")
        if config.worker_ledger_path:
            accounts = ", ".join(n for n, role in stack.workers.items() if role == "accounts")
            print(f"Account workers: {accounts}, through the db link: {config.worker_ledger_path}")
        if stack.links is not None:
            print(f"Toxiproxy:    {config.toxiproxy_api}  (links: {', '.join(stack.link_ports)})")
        users = ", ".join(sorted(stack.api_keys))
        print(f"Users:        {users} (API keys in {credentials_path(config.api_keys_path)})")
        print(f"Reconciler:   schedule {SCHEDULE_ID!r} every minute (or now: saga reconcile)")
        print(f"Control:      {control.url}  (saga scenario run NAME --attach {stack.state_dir})")
        print("Ready. Ctrl-C stops everything.", flush=True)
        signal.pause()
    except KeyboardInterrupt:
        print("\nstopping ...")
    finally:
        control.stop()
        stack.stop()


def cmd_pay(args: argparse.Namespace) -> int:
    """Start one payment."""
    client = _client_for(args, args.user)
    try:
        accepted = client.pay(
            args.user, args.amount, args.method, currency=args.currency, idempotency_key=args.key
        )
        state_dir = _state_dir(args)
        owners = _read_owners(state_dir)
        owners[accepted["payment_id"]] = args.user
        _owners_path(state_dir).write_text(json.dumps(owners, indent=2))
        if args.wait:
            _print(client.wait(accepted["payment_id"]))
        else:
            print(accepted["payment_id"])
    finally:
        client.close()
    return 0


def cmd_payment(args: argparse.Namespace) -> int:
    """``status`` or ``cancel`` one payment, as its owner."""
    client = _client_for(args, args.user, args.payment_id)
    try:
        action = client.status if args.command == "status" else client.cancel
        _print(action(args.payment_id))
    finally:
        client.close()
    return 0


def cmd_reconcile(args: argparse.Namespace) -> int:
    """Run one reconciliation pass on the running stack and print what it did (or would do)."""
    from orchestrator.reconcile import reconcile_now, render_report
    from orchestrator.temporal_client import connect

    config = load_config(_state_dir(args) / "config.json", needs=())

    async def run() -> str:
        client = await connect(config, wait_s=5)
        return render_report(await reconcile_now(client, dry_run=args.dry_run))

    print(asyncio.run(run()))
    return 0


@in_scratch_state_dir("saga-demo-")
def cmd_demo(args: argparse.Namespace) -> int:
    """Run the five-payment demo on a fresh stack."""
    from runtime.demo import run_demo

    return 0 if run_demo(Path(args.state_dir)) else 1


def cmd_histories_record(args: argparse.Namespace) -> int:
    """Re-record the history corpus of the replay gate from a fresh stack."""
    from runtime.histories import record_histories

    with scratch_state_dir("saga-histories-") as scratch:
        print(f"recording into {args.out} (stack in {scratch.path}) ...")
        print(f"manifest: {record_histories(Path(args.out), scratch.path)}")
    return 0


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose mistakes are one line and exit 2, like every other CLI error
    (argparse prints the whole usage first); ``--help`` still shows it."""

    def error(self, message: str) -> NoReturn:
        """``saga up: argument --ledger: invalid choice ... (saga up --help)``."""
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``saga``."""
    parser = OneLineParser(prog="saga", description="Payment saga on Temporal.")
    parser.add_argument(
        "--state-dir", help="stack state directory (default $SAGA_STATE_DIR or .saga)"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="start the embedded stack")
    up.add_argument("--headless", action="store_true", help="no Temporal Web UI")
    up.add_argument(
        "--callback-timeout",
        type=float,
        default=SagaOptions().callback_timeout_s,
        metavar="SECONDS",
        help="provider callback timer (default 300)",
    )
    up.add_argument(
        "--ledger",
        choices=["sqlite", "postgres"],
        default="sqlite",
        help="the ledger's database: a SQLite file (default) or a PostgreSQL server the stack"
        " starts (Debian's postgresql package)",
    )
    up.add_argument(
        "--backend",
        choices=["dev", "cluster"],
        default="dev",
        help="Temporal: the dev server (default), or the Temporal server built from source"
        " (`make temporal-server`) on PostgreSQL, 4 history shards, one process per service;"
        " the ledger then runs on that PostgreSQL too",
    )
    up.set_defaults(func=cmd_up)

    pay = sub.add_parser("pay", help="start a payment")
    pay.add_argument("--user", required=True)
    pay.add_argument("--amount", type=int, required=True, help="integer minor units (1999 = 19.99)")
    pay.add_argument("--method", choices=PAYMENT_METHODS, default="card")
    pay.add_argument("--currency", default="USD")
    pay.add_argument("--key", help="Idempotency-Key (default: a fresh one)")
    pay.add_argument("--wait", action="store_true", help="wait for a terminal state and print it")
    pay.set_defaults(func=cmd_pay)

    for name in ("status", "cancel"):
        cmd = sub.add_parser(name, help=f"{name} a payment")
        cmd.add_argument("payment_id")
        cmd.add_argument("--user", help="owner (default: the user who created it with this CLI)")
        cmd.set_defaults(func=cmd_payment)

    reconcile = sub.add_parser(
        "reconcile", help="repair what no saga will (terminated executions, live charges)"
    )
    reconcile.add_argument(
        "--dry-run", action="store_true", help="print the repairs without making them"
    )
    reconcile.set_defaults(func=cmd_reconcile)

    demo = sub.add_parser("demo", help="run the five-payment demo on a fresh stack")
    demo.set_defaults(func=cmd_demo)

    histories = sub.add_parser("histories", help="the workflow history corpus")
    history_commands = histories.add_subparsers(dest="histories_command", required=True)
    record = history_commands.add_parser("record", help="record histories from a fresh stack")
    record.add_argument("--out", default="tests/histories", help="default: tests/histories")
    record.set_defaults(func=cmd_histories_record)

    for extension in sorted(entry_points(group=COMMAND_GROUP), key=lambda e: e.name):
        extension.load()(sub)
    _state_dir_everywhere(parser)
    return parser


def _state_dir_everywhere(parser: argparse.ArgumentParser) -> None:
    """Accept ``--state-dir`` after any subcommand too (``saga up --state-dir D``); a value given
    there wins over one given before the subcommand."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                if "--state-dir" not in child._option_string_actions:
                    child.add_argument(
                        "--state-dir", default=argparse.SUPPRESS, help="as `saga --state-dir`"
                    )
                _state_dir_everywhere(child)


def run() -> None:
    """The ``saga`` console script: :func:`main`, then leave without interpreter finalization.

    A short-lived process holding a Temporal client can abort (SIGABRT) while CPython finalizes,
    when the SDK's Rust threads release the GIL too late (temporalio/sdk-python#300; seen once
    in CI on ``saga reconcile``). Every command has stopped what it started by the time it
    returns, so the output is flushed and the process exits at once with the command's code.
    """
    try:
        main()
        code: int | str | None = 0
    except SystemExit as exc:
        code = exc.code
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    if isinstance(code, str):
        os.write(2, f"{code}\n".encode())
        code = 1
    os._exit(code or 0)


def main(argv: Sequence[str] | None = None) -> None:
    """``saga`` with ``argv``; raises ``SystemExit`` with the command's exit code."""
    args = build_parser().parse_args(argv)
    try:
        sys.exit(args.func(args))
    except SagaError as exc:
        print(f"saga: {exc}", file=sys.stderr)
        sys.exit(2)
    except BrokenPipeError:  # `saga scenario list | head`
        sys.stderr.close()
        sys.exit(0)
    except Exception as exc:
        # A common mistake gets one line that says what to do, never a traceback.
        hint = _hint(exc)
        if hint is None:
            raise
        print(f"saga: {hint}", file=sys.stderr)
        sys.exit(2)


def _hint(exc: Exception) -> str | None:
    """One line for the mistakes a user makes (None: a bug, whose traceback must show)."""
    if isinstance(exc, httpx.TransportError):
        try:
            url: object = exc.request.url
        except RuntimeError:  # raised without a request
            url = "the stack"
        return (
            f"cannot reach {url} ({type(exc).__name__}): is the stack running? Start it with"
            " `saga up` (or pass --state-dir of the one that runs)"
        )
    if isinstance(exc, TimeoutError):
        return f"timed out{': ' + str(exc) if str(exc) else ''} (the stack is slow or stopped)"
    if isinstance(exc, OSError) and exc.filename is not None:  # a path the user gave
        return f"{exc.filename}: {exc.strerror}"
    return None
