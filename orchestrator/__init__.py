"""The payment saga: workflows, activities, the ledger, the HTTP API and the worker processes.

Exception tree (every error this package raises on purpose derives from ``SagaError``)::

    SagaError
    ├── ConfigError            a config file is missing or malformed
    ├── LedgerError            the account ledger refused an operation
    │   ├── AccountNotFound
    │   └── InsufficientFunds
    └── TemporalUnreachable    Temporal cannot be reached, or refused a set-up call

The runtime adds ``StackError`` and ``ApiClientError`` (``runtime.errors``).
"""
