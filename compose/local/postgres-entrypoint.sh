#!/bin/sh
# What the official postgres image does at start, as far as docker-compose.yml uses it: on an
# empty volume, a UTF-8 cluster owned by POSTGRES_USER with POSTGRES_PASSWORD (SCRAM, local and over
# TCP) and the /docker-entrypoint-initdb.d/ scripts (*.sql, *.sh) run once; then the server, on every
# address of the container.
set -eu
: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is required}"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    pwfile=$(mktemp)
    printf '%s' "$POSTGRES_PASSWORD" >"$pwfile"
    initdb -D "$PGDATA" -U "$POSTGRES_USER" --pwfile="$pwfile" -E UTF8 --locale=C.UTF-8 \
        --auth-local=scram-sha-256 --auth-host=scram-sha-256 >/dev/null
    rm -f "$pwfile"
    echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
    pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
    export PGPASSWORD="$POSTGRES_PASSWORD"
    for script in /docker-entrypoint-initdb.d/*; do
        case "$script" in
            *.sql) psql -v ON_ERROR_STOP=1 -q -U "$POSTGRES_USER" -d postgres -f "$script" ;;
            *.sh) sh "$script" ;;
        esac
    done
    unset PGPASSWORD
    pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
fi
exec postgres -D "$PGDATA" -c listen_addresses='*'
