"""Which stack a command attacks: a fresh one of a backend, the one ``saga up`` runs
(``--attach``), or a docker-compose deployment (``--compose``); the flags that choose it, and
what each cannot run (a fault kind's nemesis says which drivers refuse it)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from chaos.errors import ScenarioError
from chaos.scenario.format import Scenario
from runtime.attached import AttachedStack
from runtime.compose import COMPOSE_BUILD, ComposeStack
from runtime.embedded import EmbeddedStack, StackOptions
from runtime.process_names import BACKENDS, Backend


def on_backend(scenarios: list[Scenario], backend: Backend, *, every: bool) -> list[Scenario]:
    """The scenarios a stack of ``backend`` can run. Named ones it cannot: an error saying what
    is missing; with ``--all``, they are left out and listed."""
    missing = {s.name: s.missing_on(backend) for s in scenarios}
    cannot = {name: parts for name, parts in missing.items() if parts}
    if cannot and not every:
        lines = [f"  {name}: {', '.join(parts)}" for name, parts in cannot.items()]
        raise ScenarioError(
            f"the {backend} backend does not run what these scenarios break (try --backend"
            " cluster):\n" + "\n".join(lines)
        )
    if cannot:
        print(f"left out, the {backend} backend lacks what they break: {', '.join(cannot)}")
    return [s for s in scenarios if s.name not in cannot]


def compose_refusals(scenario: Scenario) -> list[str]:
    """What a scenario asks that a docker-compose deployment cannot do (``runtime.compose``)."""
    refused = []
    if scenario.build != COMPOSE_BUILD:
        refused.append(f"build: {scenario.build} (compose runs {COMPOSE_BUILD} only)")
    return refused + scenario.refusals("compose")


def stack_for(
    args: argparse.Namespace, scenarios: list[Scenario], options: StackOptions
) -> EmbeddedStack | AttachedStack | ComposeStack:
    """The stack the run attacks: a new one (``--backend``), the one ``saga up`` runs
    (``--attach``), or a docker-compose deployment (``--compose``)."""
    if args.attach is not None and args.compose is not None:
        raise ScenarioError("--attach or --compose: one stack at a time")
    if args.compose is not None:
        refused = {s.name: compose_refusals(s) for s in scenarios}
        lines = [f"  {name}: {'; '.join(r)}" for name, r in refused.items() if r]
        if lines:
            raise ScenarioError("not on a docker-compose deployment:\n" + "\n".join(lines))
        print(f"attacking the docker-compose deployment in {args.compose} ...")
        return ComposeStack(Path(args.compose))
    if args.attach is not None:
        stack = AttachedStack(Path(args.attach))
        print(f"attached to the stack in {args.attach}; what the runs change is put back after")
    else:
        print(f"starting the {options.backend} backend's stack in {options.state_dir} ...")
        return EmbeddedStack(options)
    if any(s.needs_toxiproxy for s in scenarios) and stack.links is None:
        raise ScenarioError("these scenarios break links: the attached stack has no Toxiproxy")
    return stack


def compose_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--compose",
        nargs="?",
        const=".",
        metavar="DIR",
        help="attack the docker-compose deployment run from DIR (default: here) instead of a"
        " fresh stack; needs .env's variables exported (docs/harness.md)",
    )


def backend_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default="dev",
        help="dev: the Temporal dev server and a SQLite ledger (default); cluster: the Temporal"
        " server's services on PostgreSQL, the ledger on PostgreSQL, two account workers"
        " (docs/cluster.md)",
    )


def attach_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--attach",
        nargs="?",
        const=os.environ.get("SAGA_STATE_DIR") or ".saga",
        metavar="STATE_DIR",
        help="run against the stack `saga up` runs in STATE_DIR (default $SAGA_STATE_DIR or"
        " .saga) instead of a fresh one; what the run changes is put back afterwards",
    )
