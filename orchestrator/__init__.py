"""The payment saga: workflows, activities, the ledger, the HTTP API and the embedded stack.

Exception tree (every error this package raises on purpose derives from ``SagaError``)::

    SagaError
    ├── ConfigError            a config file is missing or malformed
    ├── LedgerError            the account ledger refused an operation
    │   ├── AccountNotFound
    │   └── InsufficientFunds
    ├── StackError             an embedded-stack process failed to start or to become ready
    └── ApiClientError         the `saga` CLI got an error answer from the API
"""
