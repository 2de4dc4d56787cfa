"""Mutants: the real saga (and ledger) with one deliberate bug each, to measure the harness.

``sagas`` (the ``PaymentWorkflow`` subclasses, each overriding one hook) and ``ledgers`` (the
ledger with one money rule undone) define them; ``worker`` runs a worker process with a mutant's
classes swapped in (the product's own workers cannot run one); ``score`` runs the scenario
suite against each and computes the mutation score; ``cli`` is ``saga mutants``.

Kept light: the workflow sandbox re-imports ``sagas``, and with it this package.
"""
