#!/bin/sh
# Run once by the postgres image on an empty volume: the ledger's own role, owner of the
# ledger's database and of nothing else (Temporal's two databases belong to the `temporal`
# superuser, which auto-setup creates them as). The API, the account worker and init connect
# as `ledger`; none of them holds the superuser's password.
set -eu
: "${LEDGER_PASSWORD:?set LEDGER_PASSWORD}"
psql -v ON_ERROR_STOP=1 -q --username "$POSTGRES_USER" --dbname postgres \
    -v password="$LEDGER_PASSWORD" <<'SQL'
CREATE ROLE ledger LOGIN PASSWORD :'password';
CREATE DATABASE ledger OWNER ledger;
SQL
