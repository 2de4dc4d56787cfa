#!/bin/sh
# What temporalio/auto-setup does, as far as docker-compose.yml uses it: the persistence and
# visibility schemas set up on PostgreSQL (idempotent), a config written from the environment,
# the server started with all four services in one process, the default namespace registered.
set -eu
: "${DB:=postgres12}" "${DB_PORT:=5432}" "${POSTGRES_SEEDS:?}" "${POSTGRES_USER:?}"
: "${POSTGRES_PWD:?}" "${PROMETHEUS_ENDPOINT:=0.0.0.0:8000}" "${DEFAULT_NAMESPACE:=default}"
: "${DYNAMIC_CONFIG_FILE_PATH:=config/dynamicconfig/docker.yaml}"
: "${DEFAULT_NAMESPACE_RETENTION:=24h}" "${NUM_HISTORY_SHARDS:=4}"
export SQL_PASSWORD="$POSTGRES_PWD"  # the SQL tool's --pw, kept off the command line

for pair in temporal:temporal temporal_visibility:visibility; do
    db=${pair%%:*} schema=${pair##*:}
    tool="temporal-sql-tool --plugin $DB --ep $POSTGRES_SEEDS -p $DB_PORT -u $POSTGRES_USER --db $db"
    $tool create-database >/dev/null 2>&1 || true  # exists after the first start
    $tool setup-schema -v 0.0 >/dev/null 2>&1 || true
    $tool update-schema -d "/etc/temporal/schema/postgresql/v12/$schema/versioned" >/dev/null
done
[ -f "$DYNAMIC_CONFIG_FILE_PATH" ] || { mkdir -p "$(dirname "$DYNAMIC_CONFIG_FILE_PATH")"; : >"$DYNAMIC_CONFIG_FILE_PATH"; }

store() {
    cat <<YAML
      sql:
        pluginName: $DB
        databaseName: $1
        connectAddr: "$POSTGRES_SEEDS:$DB_PORT"
        connectProtocol: tcp
        user: "$POSTGRES_USER"
        password: '$POSTGRES_PWD'
        maxConns: $2
        maxIdleConns: $2
        maxConnLifetime: 1h
YAML
}
service() {  # name grpc membership bind-address
    printf '  %s:\n    rpc:\n      grpcPort: %s\n      membershipPort: %s\n      bindOnIP: %s\n' "$@"
}
{
    printf 'log: {stdout: true, level: warn}\npersistence:\n  defaultStore: default\n'
    printf '  visibilityStore: visibility\n  numHistoryShards: %s\n  datastores:\n' "$NUM_HISTORY_SHARDS"
    printf '    default:\n'; store temporal 20
    printf '    visibility:\n'; store temporal_visibility 5
    printf 'global:\n  membership: {maxJoinDuration: 30s, broadcastAddress: 127.0.0.1}\n'
    printf '  metrics:\n    prometheus: {framework: tally, timerType: histogram, listenAddress: "%s"}\n' \
        "$PROMETHEUS_ENDPOINT"
    printf 'services:\n'
    service frontend 7233 6933 0.0.0.0; printf '      httpPort: 7243\n'
    service history 7234 6934 127.0.0.1
    service matching 7235 6935 127.0.0.1
    service worker 7239 6939 127.0.0.1
    cat <<YAML
clusterMetadata:
  enableGlobalNamespace: false
  failoverVersionIncrement: 10
  masterClusterName: active
  currentClusterName: active
  clusterInformation:
    active: {enabled: true, initialFailoverVersion: 1, rpcName: frontend, rpcAddress: "127.0.0.1:7233"}
dcRedirectionPolicy: {policy: noop}
archival: {history: {state: disabled}, visibility: {state: disabled}}
namespaceDefaults: {archival: {history: {state: disabled}, visibility: {state: disabled}}}
dynamicConfigClient: {filepath: "$DYNAMIC_CONFIG_FILE_PATH", pollInterval: 10s}
YAML
} >config/docker.yaml

temporal-server --root /etc/temporal --config config --env docker --allow-no-auth start &
server=$!
trap 'kill -TERM $server' TERM INT
until temporal operator cluster health --address 127.0.0.1:7233 >/dev/null 2>&1; do
    kill -0 $server 2>/dev/null || { wait $server; exit $?; }
    sleep 1
done
temporal operator namespace describe -n "$DEFAULT_NAMESPACE" --address 127.0.0.1:7233 >/dev/null 2>&1 \
    || temporal operator namespace create -n "$DEFAULT_NAMESPACE" \
        --retention "$DEFAULT_NAMESPACE_RETENTION" --address 127.0.0.1:7233
set +e
wait $server
status=$?
if kill -0 $server 2>/dev/null; then wait $server; status=$?; fi  # a signal woke the first wait
exit $status
