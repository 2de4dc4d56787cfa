# Everything goes through uv and the lock file; `python3 -m uv` works right after `pip install uv`
# even where pip's script directory is not on PATH.
VENV := .venv
UV := python3 -m uv
BIN := $(VENV)/bin

TOXIPROXY_VERSION := v2.12.0
TEMPORAL_SERVER_VERSION := v1.29.1

.PHONY: install toxiproxy temporal-server system-deps demo up test scenarios mutants bench bench-payloads bench-ledger check lint typecheck clean compose-images compose-up compose-down compose-ready

$(VENV)/.installed: pyproject.toml uv.lock
	@python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	$(UV) sync --frozen --compile-bytecode
	@touch $@

install: $(VENV)/.installed  ## create the virtualenv from the lock file

# The real Toxiproxy server, built with Go and linked into the virtualenv as toxiproxy-server.
toxiproxy: $(VENV)/.installed
	@if [ -x $(BIN)/toxiproxy-server ]; then :; \
	elif command -v toxiproxy-server >/dev/null; then ln -sf "$$(command -v toxiproxy-server)" $(BIN)/toxiproxy-server; \
	elif command -v go >/dev/null || [ -x /usr/local/go/bin/go ]; then \
		PATH="$$PATH:/usr/local/go/bin"; \
		go install github.com/Shopify/toxiproxy/v2/cmd/server@$(TOXIPROXY_VERSION) && \
		ln -sf "$$(go env GOPATH)/bin/server" $(BIN)/toxiproxy-server; \
	else echo "make: the chaos tests need the Toxiproxy server: install Go (https://go.dev/dl/),"\
		"or put toxiproxy-server $(TOXIPROXY_VERSION) on PATH, then run make again"; exit 1; fi

# The real Temporal server and its SQL schema tool for `saga up --backend cluster`, built with Go
# into their own directory (both are called `server` and `sql` by `go install`, and Toxiproxy's
# is `server` too), linked as temporal-server and temporal-sql-tool, with the module's
# PostgreSQL schemas copied beside them. About 5 minutes on 2 cores, once.
TEMPORAL_GOBIN := $(CURDIR)/$(VENV)/libexec/temporal
temporal-server: $(VENV)/.installed
	@if [ -x $(BIN)/temporal-server ] && [ -x $(BIN)/temporal-sql-tool ] \
		&& [ -d $(VENV)/share/temporal-schema/postgresql ]; then :; \
	elif command -v go >/dev/null || [ -x /usr/local/go/bin/go ]; then \
		PATH="$$PATH:/usr/local/go/bin"; \
		GOBIN=$(TEMPORAL_GOBIN) go install go.temporal.io/server/cmd/server@$(TEMPORAL_SERVER_VERSION) && \
		GOBIN=$(TEMPORAL_GOBIN) go install go.temporal.io/server/cmd/tools/sql@$(TEMPORAL_SERVER_VERSION) && \
		ln -sf $(TEMPORAL_GOBIN)/server $(BIN)/temporal-server && \
		ln -sf $(TEMPORAL_GOBIN)/sql $(BIN)/temporal-sql-tool && \
		mkdir -p $(VENV)/share/temporal-schema && rm -rf $(VENV)/share/temporal-schema/postgresql && \
		cp -r "$$(go env GOMODCACHE)/go.temporal.io/server@$(TEMPORAL_SERVER_VERSION)/schema/postgresql" \
			$(VENV)/share/temporal-schema/ && chmod -R u+w $(VENV)/share/temporal-schema; \
	else echo "make: the cluster backend needs the Temporal server: install Go (https://go.dev/dl/),"\
		"then run make temporal-server again"; exit 1; fi

# Debian packages the tests need: Prometheus (the stack scrapes every process), a compose
# implementation (the tests validate docker-compose.yml) and PostgreSQL (the ledger tests run
# on it too; Debian keeps its initdb in /usr/lib/postgresql/<version>/bin). Installed as root.
SYSTEM_DEPS_CHECK = missing=""; \
	command -v prometheus >/dev/null || missing="$$missing prometheus"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null \
		|| missing="$$missing postgresql"; \
	{ docker compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null; } \
		|| missing="$$missing docker-compose"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	ls /usr/lib/*/faketime/libfaketime.so.1 >/dev/null 2>&1 || missing="$$missing libfaketime"
system-deps:  ## install Debian's prometheus, docker-compose, postgresql, chromium, libfaketime when missing (as root)
	@$(SYSTEM_DEPS_CHECK); \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then \
		echo "installing$$missing (Debian packages) ..."; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -qq --no-install-recommends $$missing; \
	else echo "make: the tests need$$missing; install them with:"; \
		echo "  sudo apt-get install --no-install-recommends$$missing"; exit 1; fi

demo: install  ## start the embedded stack, run five payments, check the ledger, stop
	$(BIN)/saga demo

up: install  ## start the embedded stack until Ctrl-C
	$(BIN)/saga up

test: install toxiproxy temporal-server system-deps compose-ready  ## unit, workflow, integration, scenario and compose tests
	$(BIN)/pytest --durations=15; status=$$?; sh compose/local/engine.sh stop; exit $$status

# The docker-compose deployment on images built here (compose/local/, docs/deployment.md): a
# Docker engine from Debian's packages, started without systemd, and images from a debootstrap
# base, the Go-built servers and the project's virtualenv. No registry is needed.
compose-images: install toxiproxy temporal-server  ## build the compose deployment's images locally
	sh compose/local/engine.sh start
	sh compose/local/images.sh

compose-up: install toxiproxy temporal-server  ## run docker-compose.yml on local images until every service is healthy
	sh compose/local/stack.sh up

compose-down:  ## stop the compose deployment (VOLUMES=1: and its data), and the engine compose-up started
	sh compose/local/stack.sh down

# tests/compose needs the engine and the images: CI fails without them, elsewhere those tests
# skip, saying why. `make test` stops the engine afterwards if this started it.
compose-ready: install toxiproxy temporal-server
	@if sh compose/local/engine.sh start && sh compose/local/images.sh; then :; \
	elif [ -n "$$CI" ]; then echo "make: CI needs the compose images (see above)"; exit 1; \
	else echo "make: no Docker engine or compose images here: tests/compose will skip"; fi

bench: install  ## ceiling vs full system under k6; writes BENCHMARKS.md
	$(BIN)/saga bench

bench-payloads: install  ## the SDK's JSON converter against the saga's msgspec one, per payment
	$(BIN)/python -m chaos.perf.bench.payloads

bench-ledger: install system-deps  ## ledger debits/s, per-account locks against one writer lock; writes BENCHMARKS.md
	$(BIN)/python -m chaos.perf.bench.ledger

scenarios: install toxiproxy  ## run every chaos scenario and write out/report.md
	$(BIN)/saga scenario run --all --report out

mutants: install toxiproxy  ## every saga mutant against the suite: the mutation score
	$(BIN)/saga mutants run

check: lint typecheck  ## what CI checks besides the tests

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .saga .pytest_cache .mypy_cache .ruff_cache
