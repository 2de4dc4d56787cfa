"""A worker process with a saga mutant's classes swapped in:
``python -m chaos.mutants.worker --mutant NAME ROLE --config FILE ...``.

It is the product's worker (:func:`orchestrator.workers.main`, every other argument as there),
handed the mutant's workflow (as ``PaymentWorkflow``) and ledger through
:class:`orchestrator.workers.Swap`. Stacks run it through ``StackOptions(worker_entry=...)``
(:func:`entry`); the product's own workers have no way to name a mutant.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from chaos.mutants.sagas import mutant_named
from orchestrator import workers
from runtime.embedded import PRODUCT_WORKERS

MODULE = "chaos.mutants.worker"


def entry(name: str | None) -> tuple[str, ...]:
    """``StackOptions.worker_entry`` for a stack whose workers run mutant ``name`` (None: the
    product's workers)."""
    if name is None:
        return PRODUCT_WORKERS
    mutant_named(name)  # an unknown name fails here, not in every worker process
    return (MODULE, "--mutant", name)


def swap_for(name: str) -> workers.Swap:
    """What a worker runs in place of the product's for mutant ``name``."""
    mutant = mutant_named(name)
    return workers.Swap(workflows={"PaymentWorkflow": mutant.workflow}, ledger=mutant.ledger)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: ``--mutant NAME``, then the product worker's own arguments."""
    parser = argparse.ArgumentParser(prog=f"python -m {MODULE}", add_help=False)
    parser.add_argument("--mutant", required=True, help="the saga mutant to run")
    args, rest = parser.parse_known_args(argv)
    workers.main(rest, swap_for(args.mutant))


if __name__ == "__main__":
    main()
